package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// Gateway is a gateway that StartGateway runs for one test, in front of an echo
// service called Service.
type Gateway struct {
	*gateway.Gateway
	// Backend is the echo service's address.
	Backend string

	cancel context.CancelFunc
	done   chan struct{} // closed once Serve has returned
	err    error         // what Serve returned, set before done is closed
}

// A GatewayOption changes the config StartGateway runs its gateway with. Any
// func(*gateway.Config) is one.
type GatewayOption func(*gateway.Config)

// WithListener adds a listener of tr on listen whose bridge lines name public (empty:
// the bound address), with tr's server arguments.
func WithListener(tr transports.Transport, listen, public string, args transports.Args) GatewayOption {
	return func(c *gateway.Config) {
		c.Listeners = append(c.Listeners, gateway.ListenerConfig{Transport: tr, Listen: listen, Public: public, Args: args})
	}
}

// StartGateway runs a gateway for one test and stops it when the test ends, failing
// the test if Serve failed. The gateway has a new identity and bridge secret, a state
// directory of the test's, the echo service as its only service, and the listeners the
// options add (one tcp listener on 127.0.0.1 when none does). Its handshakes time out
// after 2 s and its drain after 1 s, so that what a test leaves behind ends with it;
// options may change any of that.
func StartGateway(t testing.TB, opts ...GatewayOption) *Gateway {
	t.Helper()
	echo, stopEcho, err := serveEcho(ClientHost)
	if err != nil {
		t.Fatal(err)
	}
	_, id, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		stopEcho()
		t.Fatal(err)
	}
	cfg := gateway.Config{
		Identity:         id,
		Secrets:          []session.Secret{config.GenerateSecret()},
		Services:         map[string]string{Service: echo},
		StateDir:         t.TempDir(),
		HandshakeTimeout: 2 * time.Second,
		DrainTimeout:     time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.Listeners) == 0 {
		WithListener(tcp.New(), net.JoinHostPort(ClientHost, "0"), "", nil)(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.Listen(ctx, cfg)
	if err != nil {
		cancel()
		stopEcho()
		t.Fatalf("gateway.Listen: %v", err)
	}
	g := &Gateway{Gateway: gw, Backend: echo, cancel: cancel, done: make(chan struct{})}
	go func() {
		g.err = gw.Serve(ctx)
		close(g.done)
	}()
	t.Cleanup(func() {
		<-g.Drain()
		if g.err != nil {
			t.Errorf("gateway Serve: %v", g.err)
		}
		stopEcho()
	})
	return g
}

// Bridge returns the bridge line of the gateway's first listener.
func (g *Gateway) Bridge() bridge.Line { return g.Bridges()[0] }

// Drain cancels the gateway's context, as SIGTERM does, and returns a channel that is
// closed once Serve has returned.
func (g *Gateway) Drain() <-chan struct{} {
	g.cancel()
	return g.done
}

// serveEcho runs the echo service on host until stop is called.
func serveEcho(host string) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", nil, fmt.Errorf("lab: echo backend: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { backend.Echo{}.Serve(ctx, ln); close(done) }()
	return ln.Addr().String(), func() { cancel(); <-done }, nil
}
