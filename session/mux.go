package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
		Version: 2,
		// smux must not notice a carrier change: its keepalive would end a session
		// detached for longer than its timeout. The link's pings do liveness.
		KeepAliveDisabled: true,
		MaxFrameSize:      maxRecordData - smuxHeaderSize,
		MaxReceiveBuffer:  4 << 20,
		MaxStreamBuffer:   1 << 20,
	}
}

type acceptResult struct {
	st  *smux.Stream
	err error
}

// deadError explains a failed stream operation: if the session died, it says why and
// wraps ErrClosed.
func (s *Session) deadError(what string, err error) error {
	// The cause is set before anything else ends, so an error that the ending caused
	// finds it.
	dead := errors.Is(err, io.ErrClosedPipe) || s.Err() != nil
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
