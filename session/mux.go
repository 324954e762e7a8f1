package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

// The stream mux runs many streams over the session stream. The client opens streams,
// the gateway accepts them. Each stream has its own credit window, so a stream whose
// app does not read stalls only itself. An idle mux holds a few hundred bytes and its
// one reader goroutine; senders write their frames into the link themselves, taking
// turns one frame at a time when the link's buffer is full.

const (
	// streamWindow is what a stream may receive before its reader reads; it doubles,
	// up to maxStreamWindow, while the sender waits for credit with nothing left
	// to read, the mark of a window smaller than the path's bandwidth × RTT.
	streamWindow    = 256 << 10
	maxStreamWindow = 1 << 20
	// sessionWindow bounds growth: a window grows only while the session's streams
	// together would stay within it. A peer that fills streams nobody reads holds at
	// most max(sessionWindow, streams × streamWindow) of the gateway's memory; the
	// gateway's Budget bounds what all sessions hold together.
	sessionWindow = 4 << 20
	// acceptBacklog bounds the streams the peer opened that the gateway has not
	// accepted yet; beyond it they are reset, as are opens beyond the session's rate
	// and opens while the budget slows the session. A gateway accepts in a loop, so
	// this only absorbs bursts (a browser behind the local proxy opening many at once).
	acceptBacklog = 128
)

// frameConn is what the mux runs over: the link, or a test double.
type frameConn interface {
	io.Reader
	waitRoom(need int, cancel <-chan struct{}) (room int, err error)
	appendFrame(v ...[]byte) error
	// appendData appends a data frame and leaves sending it to writeInline, which
	// the caller calls holding no lock, before it waits for anything else.
	appendData(v ...[]byte) error
	writeInline()
}

type mux struct {
	conn    frameConn
	server  bool
	onFatal func(error) // a peer's frame broke the protocol; called from the reader
	done    chan struct{}
	hdr     [muxHeaderSize]byte // the reader's
	muxLimits

	live  atomic.Int32 // streams in the map, read without mu when a window grows
	ended atomic.Bool  // a gateway mux that ended: its streams' buffers are gone

	mu      sync.Mutex
	err     error // why the mux ended, wrapping ErrClosed; nil while it lives
	streams map[uint32]*muxStream
	lastID  uint32 // the highest stream ID opened (by us on the client, by the peer on the gateway)
	backlog []*muxStream
	arrived signal // a stream joined the backlog, or the mux ended
	// handler, once set, takes the streams the peer opens instead of the backlog.
	handler func(*muxStream)
	// The send turn: sending is true while a writer holds it, the others queue for
	// it in order, one frame a turn.
	sending bool
	queue   []*muxStream
}

// muxLimits are the gateway's: the budget account its streams' buffers count
// against, and how fast the client may open streams. The zero value limits nothing.
type muxLimits struct {
	acct  *account
	opens *openLimiter // guarded by mu
}

func newMux(conn frameConn, server bool, onFatal func(error), lim muxLimits) *mux {
	m := &mux{conn: conn, server: server, onFatal: onFatal, done: make(chan struct{}), muxLimits: lim}
	go m.readLoop()
	return m
}

// close ends the mux and every stream's waiting. On a client, buffered bytes stay
// readable. On the gateway they are dropped: the backends are closed with the session,
// and the budget gets its bytes back at once.
func (m *mux) close(cause error) {
	if !errors.Is(cause, ErrClosed) {
		cause = fmt.Errorf("%w: %w", ErrClosed, cause)
	}
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return
	}
	m.err = cause
	m.backlog = nil
	m.arrived.notify()
	close(m.done)
	if m.server {
		m.ended.Store(true) // before the release: a frame the reader has still goes nowhere
	}
	streams := make([]*muxStream, 0, len(m.streams))
	for _, s := range m.streams {
		streams = append(streams, s)
	}
	m.mu.Unlock()
	for _, s := range streams { // a stream's lock comes before the mux's
		s.mu.Lock()
		if m.server {
			s.recv.release()
		}
		s.readableLocked() // a pushing stream has no reader waiting on m.done
		s.mu.Unlock()
	}
}

// dropping reports whether data for the mux's streams is dropped on arrival: the
// gateway's mux has ended, or its session is being closed for the budget.
func (m *mux) dropping() bool { return m.ended.Load() || m.acct.dropping() }

func (m *mux) closedErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// open starts a stream to service, which the gateway will accept or reset.
func (m *mux) open(ctx context.Context, service string) (*muxStream, error) {
	if m.server {
		return nil, errors.New("session: the gateway does not open streams")
	}
	if _, err := m.conn.waitRoom(1, ctx.Done()); err != nil {
		if errors.Is(err, errWaitCancelled) {
			return nil, ctx.Err()
		}
		return nil, m.closedErrOr(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	if m.lastID == 1<<32-1 {
		return nil, errors.New("session: stream IDs used up")
	}
	// Under mu, so that opens reach the peer in the order of their IDs.
	m.lastID++
	s := newMuxStream(m, m.lastID)
	var hdr [muxHeaderSize]byte
	if err := m.conn.appendFrame(appendMuxHeader(hdr[:0], muxOpen, s.id, len(service)), []byte(service)); err != nil {
		return nil, err
	}
	m.addLocked(s)
	return s, nil
}

// accept returns the next stream the peer opened.
func (m *mux) accept(ctx context.Context) (*muxStream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		if len(m.backlog) > 0 {
			s := m.backlog[0]
			m.backlog[0] = nil
			m.backlog = m.backlog[1:]
			if len(m.backlog) == 0 {
				m.backlog = nil // an idle gateway session holds no array
			}
			return s, nil
		}
		if m.err != nil {
			return nil, m.err
		}
		arrived := m.arrived.wait()
		m.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			m.mu.Lock()
			return nil, ctx.Err()
		}
		m.mu.Lock()
	}
}

func (m *mux) addLocked(s *muxStream) {
	if m.streams == nil {
		m.streams = make(map[uint32]*muxStream)
	}
	m.streams[s.id] = s
	m.live.Store(int32(len(m.streams)))
}

// remove forgets a stream both of whose directions have ended.
func (m *mux) remove(s *muxStream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams[s.id] == s {
		delete(m.streams, s.id)
		m.live.Store(int32(len(m.streams)))
		if len(m.streams) == 0 {
			m.streams = nil
		}
	}
}

// acquireTurn waits for s's turn to append a frame. It reports false, with s out of
// the queue, when wake closes or the mux ends first; the caller then looks again at
// why it waits.
func (m *mux) acquireTurn(s *muxStream, wake <-chan struct{}) bool {
	m.mu.Lock()
	if !m.sending {
		m.sending = true
		m.mu.Unlock()
		return true
	}
	if s.turn == nil {
		s.turn = make(chan struct{}, 1)
	}
	m.queue = append(m.queue, s)
	m.mu.Unlock()
	select {
	case <-s.turn:
		return true
	case <-wake:
	case <-m.done:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := slices.Index(m.queue, s); i >= 0 {
		m.queue = slices.Delete(m.queue, i, i+1)
		return false
	}
	<-s.turn // handed over meanwhile: the caller has it and will pass it on
	return true
}

// tryTurn takes the send turn if no one holds it, without waiting.
func (m *mux) tryTurn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sending {
		return false
	}
	m.sending = true
	return true
}

func (m *mux) releaseTurn() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.queue) == 0 {
		m.sending = false
		m.queue = nil
		return
	}
	next := m.queue[0]
	m.queue[0] = nil
	m.queue = m.queue[1:]
	next.turn <- struct{}{}
}

// readLoop is the mux's one goroutine: it reads frames and hands them to their
// streams. It never waits for anything but the link, which keeps the link's own
// acknowledgements, read in the same stream, flowing.
func (m *mux) readLoop() {
	for {
		err := m.readFrame()
		if err == nil {
			continue
		}
		if errors.Is(err, errViolation) {
			m.onFatal(fmt.Errorf("%w: %w", ErrRecord, err))
		}
		m.close(err)
		return
	}
}

func (m *mux) readFrame() error {
	if _, err := io.ReadFull(m.conn, m.hdr[:]); err != nil {
		return err
	}
	h, err := parseMuxHeader(&m.hdr)
	if err != nil {
		return fmt.Errorf("%w: %w", errViolation, err)
	}
	if h.typ == muxOpen {
		return m.opened(h)
	}
	var payload *[chunkSize]byte
	if h.n > 0 {
		payload = chunkPool.Get().(*[chunkSize]byte)
		if _, err := io.ReadFull(m.conn, payload[:h.n]); err != nil {
			chunkPool.Put(payload)
			return err
		}
	}
	m.mu.Lock()
	s := m.streams[h.id]
	known := h.id <= m.lastID
	m.mu.Unlock()
	if s == nil {
		if payload != nil {
			chunkPool.Put(payload)
		}
		if !known {
			return fmt.Errorf("%w: %v, a stream never opened", errViolation, h)
		}
		return nil // a stream that ended here: what was in flight is dropped
	}
	return s.received(h, payload)
}

// opened takes an open frame: a new stream for the accept backlog, or, with the
// backlog full, a reset.
func (m *mux) opened(h muxHeader) error {
	var name [maxServiceName]byte
	if _, err := io.ReadFull(m.conn, name[:h.n]); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.server {
		return fmt.Errorf("%w: %v from the gateway", errViolation, h)
	}
	if h.id <= m.lastID {
		return fmt.Errorf("%w: %v, after stream %d", errViolation, h, m.lastID)
	}
	m.lastID = h.id
	if m.err != nil {
		return nil
	}
	if m.refuseOpenLocked() {
		var hdr [muxHeaderSize]byte
		if err := m.conn.appendFrame(appendMuxHeader(hdr[:0], muxReset, h.id, 0)); errors.Is(err, errSendBufferFull) {
			return fmt.Errorf("%w: %w", errViolation, err)
		}
		return nil
	}
	s := newMuxStream(m, h.id)
	s.service = string(name[:h.n])
	m.addLocked(s)
	if m.handler != nil {
		go m.handler(s)
		return nil
	}
	m.backlog = append(m.backlog, s)
	m.arrived.notify()
	return nil
}

// handle makes h take every stream the peer opens from now on, each on a goroutine of
// its own, and those waiting in the backlog at once: no goroutine waits for opens.
func (m *mux) handle(h func(*muxStream)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handler = h
	for _, s := range m.backlog {
		go h(s)
	}
	m.backlog = nil
}

// refuseOpenLocked decides whether a stream the client opens is reset at once: the
// accept backlog is full, the budget slows the session, or it opens streams faster
// than its limit allows.
func (m *mux) refuseOpenLocked() bool {
	switch {
	case len(m.backlog) >= acceptBacklog:
		return true
	case m.acct.slowed():
		m.acct.refused(true)
		return true
	case !m.opens.allow():
		m.acct.refused(false)
		return true
	}
	return false
}
