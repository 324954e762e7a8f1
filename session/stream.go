package session

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// answer writes a stream reply, bounded in time: a peer that stops reading must not
// hold the gateway.
func answer(st *stream, reply byte) error {
	st.SetWriteDeadline(time.Now().Add(requestTimeout))
	_, err := st.Write([]byte{reply})
	st.SetWriteDeadline(time.Time{})
	return err
}

// Stream is a stream the client opened, naming a service; the gateway accepts or
// refuses it.
type Stream struct {
	st       *stream
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
	return &streamConn{stream: s.st, sess: s.sess}, nil
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
	*stream
	sess      *Session
	closeOnce sync.Once
}

func (c *streamConn) Read(p []byte) (int, error) {
	n, err := c.stream.Read(p)
	c.sess.in.Add(uint64(n))
	return n, err
}

func (c *streamConn) Write(p []byte) (int, error) {
	n, err := c.stream.Write(p)
	c.sess.out.Add(uint64(n))
	return n, err
}

// WriteTo keeps the stream's copy without an intermediate buffer (io.Copy uses it),
// and counts.
func (c *streamConn) WriteTo(w io.Writer) (int64, error) {
	return c.stream.WriteTo(countingWriter{w, &c.sess.in})
}

func (c *streamConn) Close() error {
	c.closeOnce.Do(func() { c.sess.streams.Add(-1) })
	return c.stream.Close()
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
