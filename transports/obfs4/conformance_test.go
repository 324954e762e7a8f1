package obfs4

import (
	"context"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

// listen starts a listener on loopback with args and closes it when t ends.
func listen(t *testing.T, cfg transports.ListenConfig) transports.Listener {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	ln, err := New().Listen(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialerFor builds a client for ln from its own bridge arguments.
func dialerFor(t *testing.T, ln transports.Listener) transports.Dialer {
	t.Helper()
	d, err := New().NewDialer(ln.Addr().String(), ln.BridgeArgs())
	if err != nil {
		t.Fatalf("NewDialer(%v): %v", ln.BridgeArgs(), err)
	}
	return d
}

func TestConformance(t *testing.T) {
	// A peer the suite starts never answers, so any valid identity will do for it.
	someIdentity := listen(t, transports.ListenConfig{}).BridgeArgs()
	dialerTo := func(t *testing.T, addr string) transports.Dialer {
		d, err := New().NewDialer(addr, someIdentity)
		if err != nil {
			t.Fatalf("NewDialer(%q): %v", addr, err)
		}
		return d
	}
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		ln, err := New().Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		return ln, dialerFor(t, ln)
	}, transporttest.Options{DialerTo: dialerTo})
}
