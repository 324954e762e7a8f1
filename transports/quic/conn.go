package quic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// Application error codes a carrier closes its QUIC connection with: HTTP/3's (RFC
// 9114 section 8.1), as an HTTP/3 endpoint closes.
const (
	codeNoError   quicgo.ApplicationErrorCode = 0x100 // H3_NO_ERROR
	codeCancelled quicgo.ApplicationErrorCode = 0x10c // H3_REQUEST_CANCELLED
)

// ErrConnectionLost is wrapped by Read and Write errors when the carrier's QUIC
// connection ended under it (idle timeout, the peer closed it, the path died), so a
// caller does not mistake quic-go's idle timeout for its own read deadline.
var ErrConnectionLost = errors.New("QUIC connection lost")

var (
	errWriteClosed = errors.New("write after CloseWrite")
	// errCutFrame: a deadline stopped a Write inside a data frame whose payload the
	// peer still expects, so nothing else can be sent in order.
	errCutFrame = errors.New("a data frame was cut short by a write deadline")
)

// aLongTimeAgo is a deadline that has passed: setting it wakes a blocked Read or Write.
var aLongTimeAgo = time.Unix(1, 0)

// conn is a carrier: one bidirectional stream of one QUIC connection, framed as in
// frame.go, as a net.Conn. Closing it closes the QUIC connection once both sides have
// read each other's end, or after lingerTimeout.
type conn struct {
	qc     *quicgo.Conn
	s      *quicgo.Stream
	server bool // the accepted side, which never speaks first (see flushAck)

	rmu  sync.Mutex // serialises reading s; guards the fields below
	left int        // payload bytes left in the current data frame
	skip int        // bytes of hdr peeked and not yet consumed
	hdr  frameHeader
	junk [maxHeader]byte

	wmu     sync.Mutex // serialises writing s; guards the fields below
	pending []byte     // header bytes a deadline kept from going out
	kind    uint64     // the frame pending belongs to
	owed    int        // payload bytes a data frame's header promised and not yet sent
	spoke   bool       // a data or end frame went out
	hbuf    [maxHeader]byte

	mu                               sync.Mutex // guards the fields below
	closed                           bool       // Close was called
	handedOff                        bool       // Reject gave the stream to HTTP/3
	sentEnd, sentAck, gotEnd, gotAck bool
	finished                         bool

	finishOnce sync.Once
}

func newConn(qc *quicgo.Conn, s *quicgo.Stream, server bool) *conn {
	return &conn{qc: qc, s: s, server: server}
}

func (c *conn) LocalAddr() net.Addr  { return c.qc.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

func (c *conn) Read(p []byte) (int, error) {
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, err := c.read(p)
	return n, c.ioError(err)
}

// read fills p from data frames and handles control frames on the way. It holds rmu.
func (c *conn) read(p []byte) (int, error) {
	for {
		if c.left > 0 {
			n, err := c.s.Read(p[:min(len(p), c.left)])
			c.left -= n
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // QUIC's FIN without an end frame
			}
			return n, err
		}
		if c.state(func() bool { return c.gotEnd }) {
			return 0, io.EOF
		}
		h, err := c.nextHeader()
		if err != nil {
			return 0, err
		}
		c.handle(h)
	}
}

// nextHeader consumes the next frame header. A frame that is not the carrier's is left
// unread, for HTTP/3. It holds rmu.
func (c *conn) nextHeader() (frameHeader, error) {
	if c.skip == 0 {
		h, err := peekHeader(c.s)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return frameHeader{}, err
		}
		c.hdr, c.skip = h, h.size
	}
	for c.skip > 0 {
		// Peek showed the bytes are there, but a deadline can still stop the Read;
		// skip keeps the place for the next call.
		n, err := c.s.Read(c.junk[:c.skip])
		c.skip -= n
		if err != nil && c.skip > 0 {
			return frameHeader{}, err
		}
	}
	return c.hdr, nil
}

// handle acts on a consumed frame header. It holds rmu.
func (c *conn) handle(h frameHeader) {
	switch h.typ {
	case frameData:
		c.left = int(h.length)
	case frameEnd:
		c.mu.Lock()
		c.gotEnd = true
		c.mu.Unlock()
		// Not inline: the ack waits for wmu, which a Write blocked on flow control
		// may hold while this Read holds rmu.
		go c.sendAck()
	case frameAck:
		c.mu.Lock()
		c.gotAck = true
		c.mu.Unlock()
		c.maybeFinish()
	}
}

func (c *conn) Write(p []byte) (int, error) {
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.state(func() bool { return c.sentEnd }) {
		return 0, errWriteClosed
	}
	n, err := c.writeData(p)
	if n > 0 {
		c.spoke = true
		if err == nil {
			err = c.flushAck() // a server's ack held back until it spoke
		}
	}
	return n, c.ioError(err)
}

// writeData sends p as data frames. It holds wmu.
func (c *conn) writeData(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		switch {
		case len(c.pending) > 0:
			n, err := c.s.Write(c.pending)
			c.pending = c.pending[n:]
			if err != nil {
				return written, err
			}
		case c.owed == 0:
			size := min(len(p), maxPayload)
			hdr := appendHeader(c.hbuf[:0], frameData, size)
			n, err := c.s.Write(hdr)
			if n == 0 && err != nil {
				return written, err // nothing went out: no frame to finish
			}
			c.pending, c.kind, c.owed = hdr[n:], frameData, size
			if err != nil {
				return written, err
			}
		default:
			n, err := c.s.Write(p[:min(len(p), c.owed)])
			c.owed -= n
			written += n
			p = p[n:]
			if err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// writeControl sends an end or ack frame and records it as sent. It holds wmu.
func (c *conn) writeControl(typ uint64) error {
	if c.owed > 0 {
		return errCutFrame
	}
	if len(c.pending) > 0 { // a control frame a deadline interrupted: finish it first
		n, err := c.s.Write(c.pending)
		c.pending = c.pending[n:]
		if err != nil {
			return err
		}
		c.sent(c.kind)
		if c.kind == typ {
			return nil
		}
	}
	hdr := appendHeader(c.hbuf[:0], typ, 0)
	n, err := c.s.Write(hdr)
	if n == 0 && err != nil {
		return err
	}
	if n < len(hdr) {
		c.pending, c.kind = hdr[n:], typ
		return err
	}
	c.sent(typ)
	return nil
}

// sent records a control frame as gone out. It holds wmu.
func (c *conn) sent(typ uint64) {
	c.mu.Lock()
	switch typ {
	case frameEnd:
		c.sentEnd = true
		c.spoke = true
	case frameAck:
		c.sentAck = true
	}
	c.mu.Unlock()
	c.maybeFinish()
}

func (c *conn) SetDeadline(t time.Time) error {
	return c.setDeadline(func() {
		c.s.SetReadDeadline(t)
		c.s.SetWriteDeadline(t)
	})
}

func (c *conn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(func() { c.s.SetReadDeadline(t) })
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(func() { c.s.SetWriteDeadline(t) })
}

// setDeadline runs set unless the conn is closed, when the stream's deadlines are the
// linger goroutine's.
func (c *conn) setDeadline(set func()) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.handedOff {
		return net.ErrClosed
	}
	set()
	return nil
}

func (c *conn) isClosed() bool { return c.state(func() bool { return c.closed || c.handedOff }) }

func (c *conn) state(f func() bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f()
}

// ioError turns what a Read or Write met into what the caller should see.
func (c *conn) ioError(err error) error {
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return err
	case c.isClosed():
		return net.ErrClosed
	case c.qc.Context().Err() == nil:
		return err // a deadline, a reset stream, a malformed frame
	default:
		return fmt.Errorf("%w: %v", ErrConnectionLost, context.Cause(c.qc.Context()))
	}
}
