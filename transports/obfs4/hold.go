package obfs4

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports/admission"
)

// longAgo is a deadline that has certainly passed.
var longAgo = time.Unix(1, 0)

// rawConn is the TCP conn the library's obfs4 conn runs on. The library closes a peer
// whose handshake failed at a time fixed per bridge identity (30 s plus a delay drawn
// once into its state), the very reaction that fingerprints obfs4proxy's bridges; and
// it runs handshakes outside the gateway's budget. rawConn takes the deadlines the
// library sets and puts the gateway's in their place:
//
//   - the handshake (SetDeadline) must end by the close time drawn for this
//     connection alone (admission.Pool.CloseAt), or at once when the pool evicted it;
//   - a failed handshake's wait before the close (the library's only
//     SetReadDeadline) ends at that same close time, and counts among the gateway's
//     held peers, whose cap may end it early.
//
// So a peer is closed at its own random time whatever it sent, as the gateway's other
// raw listeners close theirs. And the library gets a peer only once it has sent
// something (awaitFirstByte): its per-connection state (a fresh Elligator2 keypair, a
// 24 KiB read buffer, length tables) would otherwise be spent on every idle
// connection of a flood.
type rawConn struct {
	*admission.Conn // reads, marking the ticket active
	tcp             *net.TCPConn
	pool            *admission.Pool
	ticket          *admission.Ticket
	closeAt         time.Time

	first []byte // read by awaitFirstByte, returned by the next Read

	mu      sync.Mutex
	evicted bool
	release func() // the hold's, once the handshake failed
}

func newRawConn(tc *net.TCPConn, pool *admission.Pool) *rawConn {
	c := &rawConn{tcp: tc, pool: pool, closeAt: pool.CloseAt(time.Now())}
	c.ticket = pool.Admit(tc, c.evict)
	c.Conn = c.ticket.Watch(tc, nil)
	return c
}

// evict ends the handshake at once; the library then holds the peer as any other
// that failed.
func (c *rawConn) evict() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evicted = true
	if c.release == nil {
		c.tcp.SetDeadline(longAgo)
	}
}

// awaitFirstByte waits, until the close time, for the peer to send something. A peer
// that does not (or that the pool evicts first) is held and closed as the library
// holds and closes a peer whose handshake failed, and false is returned.
func (c *rawConn) awaitFirstByte() bool {
	c.SetDeadline(c.closeAt)
	b := make([]byte, 1)
	if n, _ := c.Conn.Read(b); n == 1 {
		c.first = b
		return true
	}
	c.SetReadDeadline(time.Time{})
	admission.Discard(c)
	c.Close()
	return false
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// WriteTo lets the library's wait before a close, io.Copy to io.Discard, read with
// admission.Discard's small buffer instead of io.Discard's 8 KiB one: thousands of
// peers may wait at once.
func (c *rawConn) WriteTo(w io.Writer) (int64, error) {
	if w == io.Discard {
		admission.Discard(c)
		return 0, nil
	}
	return io.Copy(w, struct{ io.Reader }{c})
}

// SetDeadline is the library arming (or, with the zero time, clearing) its handshake
// timeout.
func (c *rawConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case t.IsZero():
	case c.evicted:
		t = longAgo
	default:
		t = c.closeAt
	}
	return c.tcp.SetDeadline(t)
}

// SetReadDeadline is the library starting its wait before closing a peer whose
// handshake failed.
func (c *rawConn) SetReadDeadline(time.Time) error {
	c.ticket.Release()
	release, ok := c.pool.Hold(func() { c.tcp.SetReadDeadline(time.Now()) })
	c.mu.Lock()
	defer c.mu.Unlock()
	c.release = release
	if !ok { // the gateway is draining
		return c.tcp.SetReadDeadline(longAgo)
	}
	return c.tcp.SetReadDeadline(c.closeAt)
}

func (c *rawConn) Close() error {
	c.ticket.Release()
	c.mu.Lock()
	release := c.release
	c.mu.Unlock()
	if release != nil {
		release()
	}
	return c.tcp.Close()
}
