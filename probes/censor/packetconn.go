package censor

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// flowPacketConn is one UDP flow's side of the route socket, as a net.PacketConn for
// the censor's own QUIC server: it reads the client's datagrams that the route hands
// it, and writes to the client through the route's socket.
type flowPacketConn struct {
	route  *net.UDPConn
	client netip.AddrPort
	in     chan []byte
	done   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{} // closed and replaced when the read deadline changes
}

// flowQueue bounds the client datagrams waiting for the censor's QUIC server; more
// are dropped, as a full socket buffer drops them.
const flowQueue = 64

func newFlowPacketConn(route *net.UDPConn, client netip.AddrPort) *flowPacketConn {
	return &flowPacketConn{route: route, client: client, in: make(chan []byte, flowQueue),
		done: make(chan struct{}), changed: make(chan struct{})}
}

// deliver queues a copy of a client datagram for ReadFrom.
func (c *flowPacketConn) deliver(d []byte) {
	select {
	case c.in <- append([]byte(nil), d...):
	default:
	}
}

func (c *flowPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		deadline, changed := c.deadline, c.changed
		c.mu.Unlock()
		var expired <-chan time.Time
		if !deadline.IsZero() {
			wait := time.Until(deadline)
			if wait <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(wait)
			defer t.Stop()
			expired = t.C
		}
		select {
		case d := <-c.in:
			return copy(p, d), net.UDPAddrFromAddrPort(c.client), nil
		case <-c.done:
			return 0, nil, net.ErrClosed
		case <-changed:
		case <-expired:
		}
	}
}

func (c *flowPacketConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	return c.route.WriteToUDPAddrPort(p, c.client)
}

func (c *flowPacketConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *flowPacketConn) LocalAddr() net.Addr { return c.route.LocalAddr() }

func (c *flowPacketConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *flowPacketConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return nil
}

func (c *flowPacketConn) SetWriteDeadline(time.Time) error { return nil }
