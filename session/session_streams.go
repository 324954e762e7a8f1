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
)

// OpenStream opens a stream to the gateway's service of that name ("mls", never a
// host:port) and waits for the gateway's answer. A refusal is ErrUnknownService,
// ErrServiceUnavailable or ErrStreamLimit.
func (s *Session) OpenStream(ctx context.Context, service string) (net.Conn, error) {
	if err := checkServiceName(service); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("open stream to %q", service)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("session: %s: %w", what, err)
	}
	st, err := s.mux.open(ctx, service)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("session: %s: %w", what, ctx.Err())
		}
		return nil, s.deadError(what, err)
	}
	reply, err := readReply(ctx, st)
	if err != nil {
		st.Close()
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("session: %s: %w", what, ctx.Err())
		case errors.Is(err, errStreamReset):
			// The gateway had more streams waiting to be accepted than it keeps.
			return nil, fmt.Errorf("session: %s: %w", what, ErrStreamLimit)
		}
		return nil, s.deadError(what, err)
	}
	switch Refusal(reply) {
	case replyOK:
		s.streams.Add(1)
		return &streamConn{muxStream: st, sess: s}, nil
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
	return nil, fmt.Errorf("session: %s: %w", what, err)
}

// readReply reads the gateway's one-byte stream reply, within ctx.
func readReply(ctx context.Context, st *muxStream) (byte, error) {
	if d, ok := ctx.Deadline(); ok {
		st.SetReadDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { st.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var reply [1]byte
	if _, err := io.ReadFull(st, reply[:]); err != nil {
		return 0, fmt.Errorf("read stream reply: %w", err)
	}
	if !stop() && ctx.Err() != nil {
		return 0, ctx.Err()
	}
	st.SetReadDeadline(time.Time{})
	return reply[0], nil
}

// AcceptStream returns the next stream that named a service, for the gateway to
// Accept or Refuse. Streams beyond the session's limit are refused here, with
// RefuseLimit, and never returned. It fails with ErrClosed once the session is dead.
func (s *Session) AcceptStream(ctx context.Context) (*Stream, error) {
	for {
		st, err := s.mux.accept(ctx)
		if err != nil {
			if ctx.Err() != nil && !errors.Is(err, ErrClosed) {
				return nil, fmt.Errorf("session: accept stream: %w", err)
			}
			return nil, s.deadError("accept stream", err)
		}
		if stream := s.admit(st); stream != nil {
			return stream, nil
		}
	}
}

// HandleStreams calls handle, each time on a goroutine of its own, with every stream
// the client opens from now on, and with those waiting for AcceptStream, until the
// session ends. Streams beyond the session's limit are refused with RefuseLimit and
// never handed over, as AcceptStream does. Unlike a loop around AcceptStream, it
// holds no goroutine while no stream opens. A gateway uses one or the other.
func (s *Session) HandleStreams(handle func(*Stream)) {
	s.mux.handle(func(st *muxStream) {
		if stream := s.admit(st); stream != nil {
			handle(stream)
		}
	})
}

// admit counts st among the session's streams, or, beyond its limit, refuses and
// closes it and returns nil.
func (s *Session) admit(st *muxStream) *Stream {
	if !s.acquireStream() {
		answer(st, byte(RefuseLimit))
		st.Close()
		return nil
	}
	return &Stream{st: st, sess: s}
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

// replyOK is the gateway's first byte on a stream it accepts; a Refusal's value is
// the byte of a refusal.
const replyOK = 0

// Refusal says why the gateway refuses a stream. Its value is the reply byte the
// client reads instead of 0 (docs/protocol.md, "Streams").
type Refusal uint8

const (
	// RefuseUnknownService: the gateway has no service of the name the stream asked
	// for. The client's OpenStream fails with ErrUnknownService.
	RefuseUnknownService Refusal = iota + 1
	// RefuseUnavailable: the service is configured but its backend could not be
	// reached. The client sees ErrServiceUnavailable.
	RefuseUnavailable
	// RefuseLimit: the session has as many streams open as the gateway allows.
	// AcceptStream sends it itself; the client sees ErrStreamLimit.
	RefuseLimit
)

// requestTimeout bounds how long a stream reply may take to be written.
const requestTimeout = 10 * time.Second

// answer writes a stream reply, bounded in time: a peer that stops reading must not
// hold the gateway.
func answer(st *muxStream, reply byte) error {
	st.SetWriteDeadline(time.Now().Add(requestTimeout))
	_, err := st.Write([]byte{reply})
	st.SetWriteDeadline(time.Time{})
	return err
}

// Stream is a stream the client opened, naming a service; the gateway accepts or
// refuses it.
type Stream struct {
	st       *muxStream
	sess     *Session
	answered atomic.Bool
}

var errAnswered = errors.New("session: stream already accepted or refused")

// Service returns the service the client asked for. It is the client's choice: look
// it up, never dial it.
func (s *Stream) Service() string { return s.st.service }

// Accept tells the client the stream is open and returns it as a conn.
func (s *Stream) Accept() (net.Conn, error) {
	if s.answered.Swap(true) {
		return nil, errAnswered
	}
	if err := answer(s.st, replyOK); err != nil {
		s.st.Close()
		s.sess.streams.Add(-1)
		return nil, fmt.Errorf("session: accept stream for %q: %w", s.Service(), err)
	}
	return &streamConn{muxStream: s.st, sess: s.sess}, nil
}

// Refuse tells the client why the stream is not opened, and closes it.
func (s *Stream) Refuse(r Refusal) error {
	if r < RefuseUnknownService || r > RefuseLimit {
		return fmt.Errorf("session: refuse stream: unknown refusal %d", r)
	}
	if s.answered.Swap(true) {
		return errAnswered
	}
	err := answer(s.st, byte(r))
	s.st.Close()
	s.sess.streams.Add(-1)
	if err != nil {
		return fmt.Errorf("session: refuse stream for %q: %w", s.Service(), err)
	}
	return nil
}

// streamConn is an open stream: a mux stream that counts its bytes for the session
// and leaves the session's stream count when closed.
type streamConn struct {
	*muxStream
	sess      *Session
	closeOnce sync.Once
}

func (c *streamConn) Read(p []byte) (int, error) {
	n, err := c.muxStream.Read(p)
	c.sess.in.Add(uint64(n))
	return n, err
}

func (c *streamConn) Write(p []byte) (int, error) {
	n, err := c.muxStream.Write(p)
	c.sess.out.Add(uint64(n))
	return n, err
}

// WriteTo keeps the stream's copy without an intermediate buffer (io.Copy uses it),
// and counts.
func (c *streamConn) WriteTo(w io.Writer) (int64, error) {
	return c.muxStream.WriteTo(countingWriter{w, &c.sess.in})
}

// PushTo writes what the stream receives to w, from goroutines that run only while
// there is something to write, until the peer's FIN (then done(nil)) or a failure
// (done(err)); done is called once. Nothing else may read the stream meanwhile. An
// idle stream that pushes holds no goroutine, where a loop reading it holds one.
func (c *streamConn) PushTo(w io.Writer, done func(error)) {
	c.muxStream.pushTo(countingWriter{w, &c.sess.in}, done)
}

func (c *streamConn) Close() error {
	c.closeOnce.Do(func() { c.sess.streams.Add(-1) })
	return c.muxStream.Close()
}

type countingWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}

// TryWriteBuffers passes a reader's attempt to write without waiting on, when the
// writer takes one.
func (c countingWriter) TryWriteBuffers(bufs [][]byte) (int, error) {
	tw, ok := c.w.(tryBuffersWriter)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	n, err := tw.TryWriteBuffers(bufs)
	c.n.Add(uint64(n))
	return n, err
}

// WriteBuffers passes a push's buffers on whole (see buffersWriter), so that wrapping
// a relay's writer to count does not turn one writev into a write per chunk.
func (c countingWriter) WriteBuffers(bufs *net.Buffers) (int64, error) {
	n, err := writeBuffers(c.w, bufs)
	c.n.Add(uint64(n))
	return n, err
}
