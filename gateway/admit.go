package gateway

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/admission"
)

// newPool makes a listener's handshake places, shared with its transport, counting
// what it drops under the transport's name (never an address).
func (g *Gateway) newPool(transport string) *admission.Pool {
	return admission.NewPool(admission.Config{
		Slots:   g.cfg.MaxHandshakes,
		Hold:    g.cfg.HandshakeTimeout,
		Held:    g.held,
		Sources: g.sources,
		OnDrop:  func(reason string) { g.metrics.drops.WithLabelValues(transport, reason).Inc() },
	})
}

// awaitFirstBytes returns conn as the session handshake is to read it: its first
// bytes are due FirstBytesTimeout after its transport handshake ended, which for most
// transports is when Accept returned it (behind nginx, a CDN or meek's polls, when it
// reached the gateway), and for utls when TLS finished. An idle peer is the flood's:
// it loses its handshake place early, and until it speaks it is the first a newcomer
// pushes out.
func (g *Gateway) awaitFirstBytes(ctx context.Context, conn net.Conn, t *admission.Ticket) *firstBytes {
	if h, ok := conn.(transports.Handshaking); ok {
		select {
		case <-h.HandshakeDone():
		case <-ctx.Done(): // the session handshake fails at once
		}
	}
	c := &firstBytes{due: time.Now().Add(g.cfg.FirstBytesTimeout)}
	c.Conn = t.Watch(conn, c.spoke)
	return c
}

// firstBytes is a carrier whose read deadline is the earlier of due and the one its
// user sets, until the peer's first bytes arrive; from then on the user's alone. It
// stays the session's carrier, at the cost of one atomic load per Read.
type firstBytes struct {
	*admission.Conn
	due time.Time

	mu sync.Mutex
	dl time.Time // the read deadline the user set
}

func (c *firstBytes) spoke() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Conn.Conn.SetReadDeadline(c.dl)
}

func (c *firstBytes) SetDeadline(t time.Time) error {
	c.Conn.SetWriteDeadline(t)
	return c.SetReadDeadline(t)
}

func (c *firstBytes) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dl = t
	if !c.Spoke() && (t.IsZero() || c.due.Before(t)) {
		t = c.due
	}
	return c.Conn.SetReadDeadline(t)
}

// reject answers a peer that did not open a session with nothing distinguishable.
// HTTP-like transports serve their decoy site. Raw ones read and discard until a
// deadline drawn per connection and counted from accept, so neither what was sent
// nor this gateway's configuration shows in when the connection closes. Either way
// the peer counts among the held ones; when too many are, the oldest is closed
// early, and a draining gateway closes it at once.
func (g *Gateway) reject(l *listener, conn net.Conn, consumed []byte, accepted time.Time) {
	if r, ok := conn.(transports.Rejecter); ok {
		release, ok := l.pool.Hold(func() { conn.Close() })
		if !ok {
			conn.Close()
			return
		}
		defer release()
		r.Reject(consumed)
		return
	}
	conn.SetReadDeadline(l.pool.CloseAt(accepted))
	// Dropped early, the hold still ends as it would have: after what came was
	// read, with a FIN.
	release, ok := l.pool.Hold(func() { conn.SetReadDeadline(time.Now()) })
	if !ok {
		conn.Close()
		return
	}
	defer release()
	admission.Discard(conn)
	conn.Close()
}
