package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/internal/relay"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// errRefused means the holding edge closed the link without answering the hello.
var errRefused = errors.New("fleet: the edge holding the session did not answer")

// Relay is the session.Relayer of a fleet's edge: it finds the edge holding session id
// in the directory, hands it h over the link, and once that edge answers, joins the
// carrier to the link. If the directory names no edge, or one whose heartbeat has
// stopped or whose link cannot be reached, the session is gone (session.ErrNotFound),
// and the client is told so at once, not after a timeout.
func (f *Fleet) Relay(ctx context.Context, id session.ID, h *session.Handoff, carrier net.Conn) error {
	err := f.relay(ctx, id, h, carrier)
	if errors.Is(err, session.ErrNotFound) && f.settling() {
		// Redis restarted empty a moment ago: the holder may not have written its
		// entry back yet. Silence makes the client try again, not start anew.
		err = fmt.Errorf("fleet: %v, while the edges write back what Redis lost", err)
	}
	switch {
	case err == nil:
		f.metrics.relays.WithLabelValues("ok").Inc()
	case errors.Is(err, session.ErrNotFound):
		f.metrics.relays.WithLabelValues("gone").Inc()
	case errors.Is(err, errRefused):
		f.metrics.relays.WithLabelValues("refused").Inc()
	default:
		f.metrics.relays.WithLabelValues("error").Inc()
	}
	return err
}

func (f *Fleet) relay(ctx context.Context, id session.ID, h *session.Handoff, carrier net.Conn) error {
	e, err := f.dir.lookup(ctx, id)
	if err != nil {
		return err
	}
	if e.Edge == f.cfg.Edge {
		return fmt.Errorf("fleet: the directory names this edge, which no longer holds %x: %w", id[:4], session.ErrNotFound)
	}
	addr, err := f.edgeAddr(ctx, e.Edge)
	if err != nil {
		return err
	}
	conn, err := f.link.dial(ctx, e.Edge, addr)
	if err != nil {
		return fmt.Errorf("%w: %w", session.ErrNotFound, err)
	}
	first, err := f.handOff(ctx, conn, h)
	if err != nil {
		conn.Close()
		return err
	}
	if _, err := carrier.Write(first); err != nil {
		// The holder answered a client that is gone: its session detaches when the
		// link closes, as when any carrier dies.
		conn.Close()
		carrier.Close()
		return nil
	}
	f.relays.start(carrier, conn)
	f.log.Debug("fleet: resume relayed", "session", fmt.Sprintf("%x", id[:4]), "to", e.Edge)
	return nil
}

// handOff sends the request and waits, within ctx, for the holder's first byte.
func (f *Fleet) handOff(ctx context.Context, conn *tls.Conn, h *session.Handoff) ([]byte, error) {
	b, err := h.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(appendRequest(nil, b)); err != nil {
		return nil, fmt.Errorf("fleet: hand off: %w", err)
	}
	first := make([]byte, 1)
	if _, err := io.ReadFull(conn, first); err != nil {
		return nil, fmt.Errorf("%w: %w", errRefused, err)
	}
	if !stop() {
		return nil, fmt.Errorf("fleet: hand off: %w", ctx.Err())
	}
	conn.SetDeadline(time.Time{})
	return first, nil
}

// Answer is what the gateway does with a handoff another edge sent: answer it over
// conn (session.ServeHandoff), which it owns from then on; from names the edge.
type Answer func(ctx context.Context, conn net.Conn, from string, h *session.Handoff)

// ServeLink accepts other edges' link connections until ctx ends or the fleet is
// closed, and hands each request to answer.
func (f *Fleet) ServeLink(ctx context.Context, answer Answer) error {
	stop := context.AfterFunc(ctx, f.link.close)
	defer stop()
	for {
		c, err := transports.Accept(f.link.ln, ctx.Done(), f.log)
		if err != nil {
			return nil
		}
		go f.serveLinkConn(ctx, c, answer)
	}
}

func (f *Fleet) serveLinkConn(ctx context.Context, c net.Conn, answer Answer) {
	tc := tls.Server(c, f.link.tlsConfig(true, ""))
	tc.SetDeadline(time.Now().Add(linkHandshake))
	err := tc.HandshakeContext(ctx)
	var h *session.Handoff
	if err == nil {
		var b []byte
		if b, err = readRequest(tc); err == nil {
			h, err = session.ParseHandoff(b)
		}
	}
	if err != nil {
		f.log.Debug("fleet: link connection refused", "err", err)
		f.metrics.handoffs.WithLabelValues("refused").Inc()
		c.Close()
		return
	}
	tc.SetDeadline(time.Time{})
	answer(ctx, tc, peerEdge(tc), h)
}

// relays are the carriers this edge joins to other edges, so that Close ends them.
type relays struct {
	m     *metrics
	mu    sync.Mutex
	live  map[net.Conn]net.Conn
	wg    sync.WaitGroup
	close bool
}

func newRelays(m *metrics) *relays { return &relays{m: m, live: make(map[net.Conn]net.Conn)} }

func (r *relays) start(carrier, link net.Conn) {
	r.mu.Lock()
	if r.close {
		r.mu.Unlock()
		carrier.Close()
		link.Close()
		return
	}
	r.live[carrier] = link
	r.wg.Add(1)
	r.mu.Unlock()
	r.m.relaying.Inc()
	go func() {
		defer r.wg.Done()
		relay.Splice(carrier, link, r.m.relayedBytes.WithLabelValues("up"), r.m.relayedBytes.WithLabelValues("down"))
		r.m.relaying.Dec()
		r.mu.Lock()
		delete(r.live, carrier)
		r.mu.Unlock()
	}()
}

// closeAll ends every relayed carrier and waits for their splices.
func (r *relays) closeAll() {
	r.mu.Lock()
	r.close = true
	for c, l := range r.live {
		c.Close()
		l.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
