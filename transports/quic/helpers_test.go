package quic

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

// hangGuard bounds every wait in these tests; it only turns a hang into a failure.
const hangGuard = 20 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// listenLoopback starts a quic listener on 127.0.0.1 that lives as long as the test.
func listenLoopback(t *testing.T) transports.Listener {
	t.Helper()
	ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{
		Addr:     "127.0.0.1:0",
		Args:     transports.Args{argServerName: testServerName},
		StateDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialerFor builds a dialer for ln from the listener's bridge arguments.
func dialerFor(t *testing.T, ln transports.Listener) *Dialer {
	t.Helper()
	d, err := newDialer(ln.Addr().String(), ln.BridgeArgs(), nil)
	if err != nil {
		t.Fatalf("NewDialer(%v): %v", ln.BridgeArgs(), err)
	}
	return d
}

// pinnedTo is a TLS client configuration that accepts ln's certificate by the pin in
// its bridge arguments, as the transport's dialers do.
func pinnedTo(t *testing.T, ln transports.Listener) *tls.Config {
	t.Helper()
	pins, err := trust.ParsePins(ln.BridgeArgs()[trust.PinArg])
	if err != nil {
		t.Fatalf("listener's pin=: %v", err)
	}
	return ClientTLS(trust.Verifier{ServerName: testServerName, Pins: pins})
}
