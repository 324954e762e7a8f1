package dns

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"time"

	kcp "github.com/xtaci/kcp-go/v5"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

// ErrResolver is wrapped when the resolver answered a new tunnel's first query with
// an error (REFUSED, SERVFAIL): it does not serve this network, or the domain is not
// delegated to a gateway that answers.
var ErrResolver = errors.New("the resolver did not carry the tunnel")

// A Dialer opens tunnels to the gateway behind one domain, through one resolver. It
// is safe for concurrent use.
type Dialer struct {
	// Domain is the zone delegated to the gateway, canonical.
	Domain string
	// Addr is where the resolver is reached: its UDP address, or the TCP address of
	// its DoT or DoH service.
	Addr string
	// URL is the DoH resolver's URL; empty unless DoH.
	URL string

	kind     resolverKind
	browser  tlsHandshaker  // DoH's
	verifier trust.Verifier // DoT's
}

// Dial opens a tunnel and waits for the gateway's first answer to come back through
// the resolver. Errors match ctx's when it ended first.
func (d *Dialer) Dial(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	began := time.Now()
	// The resolver's own round trip says nothing of the gateway's: the trace hears of
	// the tunnel's first answer instead.
	rc, err := d.connect(transports.WithTrace(ctx, nil))
	if err != nil {
		return nil, fmt.Errorf("%s resolver %s: %w", d.kind, d.Addr, transports.ContextError(ctx, err))
	}
	t := newTunnel(d.Domain, rc, d.kind)
	sess, err := newSession(mrand.Uint32(), rc.RemoteAddr(), t, t.mtu(), false)
	if err != nil {
		t.Close()
		return nil, err
	}
	t.followLimit(sess.(*kcp.UDPSession))

	// The greeting starts the gateway's KCP session, so Accept returns before the
	// client has anything to say; its acknowledgement proves the path.
	s := newStream(sess, true)
	select {
	case <-t.heard:
		network := "udp"
		if d.kind != overUDP {
			network = "tcp"
		}
		transports.Connected(ctx, network, time.Since(began))
		return s, nil
	case <-t.gone:
		s.finish()
		err := t.Err()
		if err == nil {
			err = ErrTunnelLost
		}
		return nil, fmt.Errorf("%s via %s: %w", d.Domain, d.Addr, transports.ContextError(ctx, err))
	case <-ctx.Done():
		s.finish()
		return nil, fmt.Errorf("%s via %s: no answer: %w", d.Domain, d.Addr, ctx.Err())
	}
}

// connect opens the conn to the resolver.
func (d *Dialer) connect(ctx context.Context) (resolverConn, error) {
	switch d.kind {
	case overTLS:
		return dialTLS(ctx, d.Addr, d.verifier)
	case overHTTPS:
		return dialHTTPS(ctx, d.Addr, d.URL, d.browser)
	default:
		return dialUDP(ctx, d.Addr)
	}
}
