package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"
)

const (
	smuxHeaderSize = 8
	// requestTimeout bounds how long a new stream may take to name its service and
	// how long a reply may take to be written.
	requestTimeout = 10 * time.Second
	// storeTimeout bounds the Store.Delete of a closing session.
	storeTimeout = 5 * time.Second
)

// muxConfig tunes smux for many mostly idle sessions: one smux frame fits one record,
// and per-stream windows (smux v2) keep one slow stream from stalling the others.
func muxConfig() *smux.Config {
	return &smux.Config{
		Version:           2,
		KeepAliveInterval: 20 * time.Second,
		KeepAliveTimeout:  60 * time.Second,
		MaxFrameSize:      maxRecordData - smuxHeaderSize,
		MaxReceiveBuffer:  4 << 20,
		MaxStreamBuffer:   1 << 20,
	}
}

type impl struct {
	rc         *recordConn
	mux        *smux.Session
	ready      chan struct{} // closed once mux is set
	id         ID
	maxStreams int32
	streams    atomic.Int32
	in, out    atomic.Uint64
	closeOnce  sync.Once
	causeMu    sync.Mutex
	cause      error // why the session died; nil while it lives

	acceptSem  chan struct{} // one AcceptStream at a time
	acceptWait chan acceptResult
}

type acceptResult struct {
	st  *smux.Stream
	err error
}

func newSession(conn net.Conn, res handshakeResult, server bool, maxStreams int, store Store) (*Session, error) {
	readKey, readMask, writeKey, writeMask := res.keys.s2c, res.keys.s2cMask, res.keys.c2s, res.keys.c2sMask
	if server {
		readKey, readMask, writeKey, writeMask = writeKey, writeMask, readKey, readMask
	}
	rc, err := newRecordConn(conn, readKey, readMask, writeKey, writeMask)
	if err != nil {
		return nil, err
	}
	s := &Session{impl{
		rc:         rc,
		ready:      make(chan struct{}),
		id:         res.id,
		maxStreams: int32(maxStreams),
		acceptSem:  make(chan struct{}, 1),
	}}
	rc.onFail = func(err error) {
		s.setCause(err)
		s.Close()
	}
	rc.onClose = func() {
		// smux closes the carrier itself only when the peer fell silent.
		s.setCause(errKeepalive)
		if store != nil {
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			defer cancel()
			store.Delete(ctx, s.id)
		}
	}
	open := smux.Client
	if server {
		open = smux.Server
	}
	if s.mux, err = open(rc, muxConfig()); err != nil {
		rc.Close()
		return nil, fmt.Errorf("session: start stream mux: %w", err)
	}
	close(s.ready)
	return s, nil
}

// ID returns the session's ID, chosen by the gateway.
func (s *Session) ID() ID { return s.id }

// NumStreams returns how many streams are open: accepted or being answered on the
// gateway, opened and not yet closed on the client.
func (s *Session) NumStreams() int { return int(s.streams.Load()) }

// Bytes returns how many bytes of stream data the session has received and sent.
func (s *Session) Bytes() (in, out uint64) { return s.in.Load(), s.out.Load() }

// Done is closed when the session dies: closed by either side, a bad record, a
// carrier failure, or a keepalive timeout.
func (s *Session) Done() <-chan struct{} { return s.mux.CloseChan() }

var errKeepalive = fmt.Errorf("%w: no frame from the peer within the keepalive timeout", ErrClosed)

// Err reports why the session died: ErrClosed after Close, ErrRecord after a bad
// record, or the carrier's error. It is nil while the session lives.
func (s *Session) Err() error {
	s.causeMu.Lock()
	defer s.causeMu.Unlock()
	return s.cause
}

func (s *impl) setCause(err error) {
	s.causeMu.Lock()
	if s.cause == nil {
		s.cause = err
	}
	s.causeMu.Unlock()
}

// Close ends the session, its streams and its carrier. It is safe to call more than
// once and from any goroutine.
func (s *Session) Close() error {
	s.setCause(ErrClosed)
	s.closeOnce.Do(func() {
		<-s.ready // a carrier failure can race the session's construction
		s.mux.Close()
	})
	return nil
}

// deadError explains a failed stream operation: if the session died, it says why and
// wraps ErrClosed.
func (s *Session) deadError(what string, err error) error {
	dead := errors.Is(err, io.ErrClosedPipe)
	select {
	case <-s.Done():
		dead = true
	default:
	}
	if !dead {
		return fmt.Errorf("session: %s: %w", what, err)
	}
	cause := s.Err()
	if cause == nil || errors.Is(cause, ErrClosed) {
		return fmt.Errorf("session: %s: %w", what, ErrClosed)
	}
	return fmt.Errorf("session: %s: %w: %w", what, ErrClosed, cause)
}

// OpenStream opens a stream to the gateway's service of that name ("mls", never a
// host:port) and waits for the gateway's answer. A refusal is ErrUnknownService,
// ErrServiceUnavailable or ErrStreamLimit.
func (s *Session) OpenStream(ctx context.Context, service string) (net.Conn, error) {
	req, err := appendServiceRequest(nil, service)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("session: open stream to %q: %w", service, err)
	}
	st, err := s.mux.OpenStream()
	if err != nil {
		return nil, s.deadError(fmt.Sprintf("open stream to %q", service), err)
	}
	reply, err := exchange(ctx, st, req)
	if err != nil {
		st.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("session: open stream to %q: %w", service, ctx.Err())
		}
		return nil, s.deadError(fmt.Sprintf("open stream to %q", service), err)
	}
	switch Refusal(reply) {
	case replyOK:
		s.streams.Add(1)
		return &streamConn{Stream: st, sess: &s.impl}, nil
	case RefuseUnknownService:
		err = ErrUnknownService
	case RefuseUnavailable:
		err = ErrServiceUnavailable
	case RefuseLimit:
		err = ErrStreamLimit
	default:
		err = fmt.Errorf("%w: unknown stream reply %d", errMalformed, reply)
	}
	st.Close()
	return nil, fmt.Errorf("session: open stream to %q: %w", service, err)
}

// exchange writes the service request and reads the one-byte reply, within ctx.
func exchange(ctx context.Context, st *smux.Stream, req []byte) (byte, error) {
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { st.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := st.Write(req); err != nil {
		return 0, fmt.Errorf("write service request: %w", err)
	}
	var reply [1]byte
	if _, err := io.ReadFull(st, reply[:]); err != nil {
		return 0, fmt.Errorf("read stream reply: %w", err)
	}
	if !stop() && ctx.Err() != nil {
		return 0, ctx.Err()
	}
	st.SetDeadline(time.Time{})
	return reply[0], nil
}

// AcceptStream returns the next stream that named a service, for the gateway to
// Accept or Refuse. Streams beyond the session's limit are refused here, with
// RefuseLimit, and never returned. It fails with ErrClosed once the session is dead.
func (s *Session) AcceptStream(ctx context.Context) (*Stream, error) {
	select {
	case s.acceptSem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("session: accept stream: %w", ctx.Err())
	}
	defer func() { <-s.acceptSem }()
	for {
		st, err := s.acceptMux(ctx)
		if err != nil {
			return nil, err
		}
		service, err := readRequest(ctx, st)
		if err != nil {
			st.Close() // a stream that cannot name a service is dropped, not answered
			if ctx.Err() != nil {
				return nil, fmt.Errorf("session: accept stream: %w", ctx.Err())
			}
			continue
		}
		if !s.acquireStream() {
			answer(st, byte(RefuseLimit))
			st.Close()
			continue
		}
		return &Stream{streamImpl{st: st, sess: &s.impl, service: service}}, nil
	}
}

// acceptMux waits for smux's next stream. Without a cancellable ctx it blocks in the
// caller's goroutine, so an idle gateway session costs no goroutine of ours; with one,
// a helper waits, and a result that comes after ctx ends is kept for the next call.
func (s *Session) acceptMux(ctx context.Context) (*smux.Stream, error) {
	var r acceptResult
	switch {
	case s.acceptWait == nil && ctx.Done() == nil:
		r.st, r.err = s.mux.AcceptStream()
	default:
		if s.acceptWait == nil {
			wait := make(chan acceptResult, 1)
			s.acceptWait = wait
			go func() {
				st, err := s.mux.AcceptStream()
				wait <- acceptResult{st, err}
			}()
		}
		select {
		case r = <-s.acceptWait:
			s.acceptWait = nil
		case <-ctx.Done():
			return nil, fmt.Errorf("session: accept stream: %w", ctx.Err())
		}
	}
	if r.err != nil {
		s.Close() // smux stops reading after a protocol error; the session is over
		return nil, s.deadError("accept stream", r.err)
	}
	return r.st, nil
}

func readRequest(ctx context.Context, st *smux.Stream) (string, error) {
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	st.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { st.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	service, err := readServiceRequest(st)
	if err != nil {
		return "", err
	}
	if !stop() {
		return "", ctx.Err()
	}
	st.SetReadDeadline(time.Time{})
	return service, nil
}

func (s *Session) acquireStream() bool {
	for {
		n := s.streams.Load()
		if n >= s.maxStreams {
			return false
		}
		if s.streams.CompareAndSwap(n, n+1) {
			return true
		}
	}
}
