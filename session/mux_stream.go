package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

var (
	errStreamReset = errors.New("session: stream reset by the peer")
	errWriteClosed = errors.New("session: write on a stream whose writing side is closed")
)

// muxStream is one stream of the mux, a net.Conn. Closing it sends FIN, and RST too
// when the peer may still be sending: the peer's writes then fail instead of waiting
// for credit that will never come, and its reads still get every byte sent before.
type muxStream struct {
	m       *mux
	id      uint32
	service string        // the gateway side's: what the client asked for
	turn    chan struct{} // the send turn is handed over on it; guarded by m.mu
	wmu     sync.Mutex    // one Write at a time: frames of one Write stay in order

	mu        sync.Mutex
	recv      recvQueue
	recvd     uint64 // bytes the peer sent
	read      uint64 // bytes the app read
	granted   uint64 // the peer may send up to here
	window    uint64
	sent      uint64
	sendLimit uint64 // the peer let us send up to here
	finIn     bool   // the peer sent FIN
	finOut    bool   // we sent FIN
	rstIn     bool   // the peer sent RST
	closed    bool   // Close was called
	readable  signal // data, FIN, RST, close, a deadline change
	writable  signal // credit, RST, close, a deadline change
	rd, wd    deadline
	push      *pusher // non-nil while the stream pushes what it receives (pushTo)
}

func newMuxStream(m *mux, id uint32) *muxStream {
	return &muxStream{m: m, id: id, granted: streamWindow, window: streamWindow, sendLimit: streamWindow,
		recv: recvQueue{acct: m.acct}}
}

// received handles a frame from the peer (payload, if any, becomes the stream's).
func (s *muxStream) received(h muxHeader, payload *[chunkSize]byte) error {
	s.mu.Lock()
	var err error
	switch h.typ {
	case muxData:
		switch {
		case s.finIn:
			err = fmt.Errorf("%w: %v after its FIN", errViolation, h)
		case s.recvd+uint64(h.n) > s.granted:
			err = fmt.Errorf("%w: %v past its credit (%d of %d received)", errViolation, h, s.recvd, s.granted)
		case s.closed || s.m.dropping():
			chunkPool.Put(payload)
		default:
			s.recv.push(payload, h.n)
			payload = nil
		}
		s.recvd += uint64(h.n)
		s.readableLocked()
	case muxCredit:
		s.sendLimit += uint64(binary.BigEndian.Uint32(payload[:creditSize]))
		s.writable.notify()
	case muxFin:
		if s.finIn {
			err = fmt.Errorf("%w: second FIN on stream %d", errViolation, h.id)
		}
		s.finIn = true
		s.readableLocked()
	case muxReset:
		s.rstIn = true
		s.readableLocked()
		s.writable.notify()
	}
	if payload != nil && h.typ != muxData {
		chunkPool.Put(payload)
	}
	ended := s.endedLocked()
	s.mu.Unlock()
	if ended {
		s.m.remove(s)
	}
	return err
}

// endedLocked reports whether both directions are over, so the mux can forget s.
func (s *muxStream) endedLocked() bool {
	return s.closed || s.rstIn || (s.finIn && s.finOut)
}

// control appends a control frame for s; with s.mu held, so it keeps its place
// among s's data frames.
func (s *muxStream) control(typ byte, payload []byte) error {
	var hdr [muxHeaderSize]byte
	return s.m.conn.appendFrame(appendMuxHeader(hdr[:0], typ, s.id, len(payload)), payload)
}

func (s *muxStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if err := s.readErrLocked(); err != nil {
			return 0, err
		}
		if s.recv.size > 0 {
			n := s.recv.read(p)
			s.consumedLocked(n)
			return n, nil
		}
		if err := s.readEndLocked(); err != nil {
			return 0, err
		}
		s.waitLocked(&s.readable, &s.rd)
	}
}

// WriteTo hands the received chunks to w as they come, without a copy into a
// caller's buffer (io.Copy uses it).
func (s *muxStream) WriteTo(w io.Writer) (int64, error) {
	var total int64
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if err := s.readErrLocked(); err != nil {
			return total, err
		}
		if s.recv.size > 0 {
			c := s.recv.pop()
			s.consumedLocked(c.w - c.r)
			s.mu.Unlock()
			n, err := w.Write(c.buf[c.r:c.w])
			s.recv.free(c.buf)
			total += int64(n)
			s.mu.Lock()
			if err != nil {
				return total, err
			}
			continue
		}
		if err := s.readEndLocked(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return total, err
		}
		s.waitLocked(&s.readable, &s.rd)
	}
}

// readErrLocked is what stops a read even with bytes buffered. A gateway stream whose
// mux ended fails even after the peer's FIN: its buffered bytes were dropped, and EOF
// would tell the backend that what it got was whole.
func (s *muxStream) readErrLocked() error {
	switch {
	case s.closed:
		return opError("read", net.ErrClosed)
	case s.rd.passed:
		return opError("read", os.ErrDeadlineExceeded)
	case s.m.ended.Load():
		return opError("read", s.m.closedErr())
	}
	return nil
}

// readEndLocked is what ends a read with nothing buffered: EOF after the peer's FIN.
func (s *muxStream) readEndLocked() error {
	switch {
	case s.finIn:
		return io.EOF
	case s.rstIn:
		return opError("read", errStreamReset)
	}
	if err := s.m.closedErr(); err != nil {
		return opError("read", err)
	}
	return nil
}

// consumedLocked counts n bytes read and grants the peer more credit once half a
// window has been read. While the gateway's budget is tight no window grows, and a
// slowed session's streams get slowWindow: credit is withheld until their reader is
// that close to what was granted before.
func (s *muxStream) consumedLocked(n int) {
	s.read += uint64(n)
	if s.finIn || s.rstIn {
		return
	}
	tight := s.m.acct.tight()
	if !tight && s.recv.size == 0 && s.recvd == s.granted && s.window < maxStreamWindow &&
		2*s.window*uint64(max(s.m.live.Load(), 1)) <= sessionWindow {
		s.window *= 2 // the peer waits for credit and we for data: the window is too small
	}
	w := s.window
	switch {
	case s.m.acct.slowed():
		w = min(w, slowWindow)
	case tight:
		w = min(w, streamWindow)
	}
	next := s.read + w
	if next <= s.granted || next-s.granted < w/2 {
		return
	}
	inc := next - s.granted
	s.granted = next
	var b [creditSize]byte
	s.control(muxCredit, binary.BigEndian.AppendUint32(b[:0], uint32(inc))) // fails only when the session ends
}

func (s *muxStream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// The frames go out from this goroutine once they are in (or before it waits),
	// not from a writer goroutine started per burst: a message costs no goroutine
	// switch, and a relay's next read of its socket waits on the carrier.
	unsent := false
	defer func() {
		if unsent {
			s.m.conn.writeInline()
		}
	}()
	total := 0
	for len(p) > 0 {
		n, err := s.writeFrame(p, &unsent)
		total += n
		p = p[n:]
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// writeFrame appends one data frame of p's first bytes, as many as credit and a frame
// allow, when s's turn comes and the link has room; it returns 0 and no error when it
// should be called again. *unsent says frames of this Write wait for writeInline;
// they are sent before writeFrame waits for credit or a turn, which they may be what
// makes.
func (s *muxStream) writeFrame(p []byte, unsent *bool) (int, error) {
	send := func() {
		if *unsent {
			*unsent = false
			s.m.conn.writeInline()
		}
	}
	s.mu.Lock()
	for {
		if err := s.writeErrLocked(); err != nil {
			s.mu.Unlock()
			return 0, err
		}
		if s.sent < s.sendLimit {
			break
		}
		if *unsent {
			s.mu.Unlock()
			send()
			s.mu.Lock()
			continue
		}
		s.waitLocked(&s.writable, &s.wd)
	}
	wake := s.writable.wait()
	s.mu.Unlock()
	if !s.m.tryTurn() {
		send()
		if !s.m.acquireTurn(s, wake) {
			return 0, nil
		}
	}
	defer s.m.releaseTurn()
	room, err := s.m.conn.waitRoom(muxHeaderSize+1, wake)
	if err != nil {
		if errors.Is(err, errWaitCancelled) {
			return 0, nil
		}
		return 0, opError("write", s.m.closedErrOr(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writeErrLocked(); err != nil {
		return 0, err
	}
	n := int(min(uint64(len(p)), s.sendLimit-s.sent, maxMuxPayload, uint64(room-muxHeaderSize)))
	var hdr [muxHeaderSize]byte
	if err := s.m.conn.appendData(appendMuxHeader(hdr[:0], muxData, s.id, n), p[:n]); err != nil {
		return 0, opError("write", s.m.closedErrOr(err))
	}
	*unsent = true
	s.sent += uint64(n)
	return n, nil
}

func (s *muxStream) writeErrLocked() error {
	switch {
	case s.closed:
		return opError("write", net.ErrClosed)
	case s.finOut:
		return opError("write", errWriteClosed)
	case s.rstIn:
		return opError("write", errStreamReset)
	case s.wd.passed:
		return opError("write", os.ErrDeadlineExceeded)
	}
	if err := s.m.closedErr(); err != nil {
		return opError("write", err)
	}
	return nil
}

func (m *mux) closedErrOr(err error) error {
	if dead := m.closedErr(); dead != nil {
		return dead
	}
	return err
}

// waitLocked waits, with s.mu released, for sig, the deadline d, or the mux's end.
func (s *muxStream) waitLocked(sig *signal, d *deadline) {
	wake, passed := sig.wait(), d.done()
	s.mu.Unlock()
	select {
	case <-wake:
	case <-passed:
	case <-s.m.done:
	}
	s.mu.Lock()
}

// CloseWrite sends FIN: the peer reads what was written, then EOF.
// A Write in progress fails at its next frame.
func (s *muxStream) CloseWrite() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return opError("close", net.ErrClosed)
	}
	var err error
	if !s.finOut && !s.rstIn {
		err = s.control(muxFin, nil)
	}
	s.finOut = true
	s.writable.notify()
	ended := s.endedLocked()
	s.mu.Unlock()
	if ended {
		s.m.remove(s)
	}
	return err
}

// Close ends both directions: FIN, then RST unless the peer has finished sending.
// Unread bytes are dropped. A Write in progress fails.
func (s *muxStream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var err error
	if !s.rstIn {
		if !s.finOut {
			err = s.control(muxFin, nil)
		}
		if !s.finIn && err == nil {
			err = s.control(muxReset, nil)
		}
	}
	s.finOut = true
	s.recv.release()
	s.rd.stop()
	s.wd.stop()
	s.readableLocked()
	s.writable.notify()
	s.mu.Unlock()
	s.m.remove(s)
	if err != nil && s.m.closedErr() != nil {
		return nil // the session is gone, and the stream with it
	}
	return err
}

func (s *muxStream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

func (s *muxStream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rd.set(&s.mu, t, s.readableLocked)
	s.readableLocked()
	return nil
}

func (s *muxStream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wd.set(&s.mu, t, nil)
	s.writable.notify()
	return nil
}

func (s *muxStream) LocalAddr() net.Addr  { return streamAddr(s.id) }
func (s *muxStream) RemoteAddr() net.Addr { return streamAddr(s.id) }

// streamAddr names a stream: its session's ends have no address a stream could
// give without logging a client's.
type streamAddr uint32

func (streamAddr) Network() string  { return "umbrella" }
func (a streamAddr) String() string { return fmt.Sprintf("stream %d", uint32(a)) }

func opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "umbrella", Err: err}
}
