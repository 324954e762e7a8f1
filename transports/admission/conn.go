package admission

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
)

// Conn is a peer's conn during its handshake: the first bytes read from it make its
// ticket active (no longer idle), and call first, if set, once. It keeps the
// half-close of the conn it wraps.
type Conn struct {
	net.Conn
	ticket *Ticket
	first  func()
	spoke  atomic.Bool
}

// Watch returns c reporting its first bytes to t, then to first (which may be nil).
func (t *Ticket) Watch(c net.Conn, first func()) *Conn {
	return &Conn{Conn: c, ticket: t, first: first}
}

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.spoke.Load() && c.spoke.CompareAndSwap(false, true) {
		c.ticket.Active()
		if c.first != nil {
			c.first()
		}
	}
	return n, err
}

// Spoke reports whether the peer has sent anything yet.
func (c *Conn) Spoke() bool { return c.spoke.Load() }

// CloseWrite finishes sending while still reading, when the wrapped conn can.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// Discard reads and drops what r sends until a read fails, as a peer held in silence
// is read. The buffer is small: thousands of peers may be held at once, each waiting
// in a Read.
func Discard(r io.Reader) {
	buf := make([]byte, 512)
	for {
		if _, err := r.Read(buf); err != nil {
			return
		}
	}
}
