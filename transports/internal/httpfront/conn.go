package httpfront

import (
	"errors"
	"net"
	"sync"

	"github.com/umbrella-edge/edge/transports"
)

// Conn is a carrier whose first bytes were read together with the HTTP head that set
// it up; Read returns those bytes before reading on. It keeps the half-close of the
// conn it wraps (TCP, TLS), may report a client address a reverse proxy forwarded, and
// on the client side the Date its server answered with (transports.Dated).
type Conn struct {
	net.Conn
	transports.ServerClock
	remote net.Addr // nil: the wrapped conn's

	mu       sync.Mutex
	buffered []byte
	closed   bool
}

// NewConn returns c reading buffered first. remote, if not nil, is the address
// RemoteAddr reports.
func NewConn(c net.Conn, buffered []byte, remote net.Addr) *Conn {
	return &Conn{Conn: c, remote: remote, buffered: buffered}
}

func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.buffered) > 0 && !c.closed {
		n := copy(p, c.buffered)
		c.buffered = c.buffered[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// Close closes the wrapped conn; bytes still buffered are dropped, so a Read after
// Close fails as on any net.Conn.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed, c.buffered = true, nil
	c.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite finishes sending while still reading, when the wrapped conn can.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// RemoteAddr is the forwarded client address when a reverse proxy gave one.
func (c *Conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}
