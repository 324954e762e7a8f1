package pt

import (
	"context"
	"os/exec"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

// obfs4proxy returns the path of Debian's obfs4proxy, the independent obfs4 peer the
// tests run against. Its absence fails the test: CI installs it.
func obfs4proxy(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("obfs4proxy")
	if err != nil {
		t.Fatal("install obfs4proxy (apt-get install obfs4proxy)")
	}
	return p
}

// newTransport returns a pt transport that runs obfs4proxy for obfs4, closed when t ends.
func newTransport(t *testing.T) *Transport {
	t.Helper()
	tr := New(Config{Binaries: map[string]string{"obfs4": obfs4proxy(t)}, StateDir: t.TempDir()})
	t.Cleanup(func() { tr.Close() })
	return tr
}

// listenObfs4 starts obfs4proxy as a server on loopback, closed when t ends.
func listenObfs4(t *testing.T, tr *Transport, stateDir string) transports.Listener {
	t.Helper()
	ln, err := tr.Listen(context.Background(), transports.ListenConfig{
		Addr:     "127.0.0.1:0",
		Args:     transports.Args{"method": "obfs4"},
		StateDir: stateDir,
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestConformance runs the suite with obfs4proxy on both sides: a client program
// behind the dialer and a server program in front of the listener.
func TestConformance(t *testing.T) {
	// The suite's silent peers never answer, so any valid obfs4 identity will do.
	someIdentity := listenObfs4(t, newTransport(t), t.TempDir()).BridgeArgs()
	dialerTo := func(t *testing.T, addr string) transports.Dialer {
		d, err := newTransport(t).NewDialer(addr, someIdentity)
		if err != nil {
			t.Fatalf("NewDialer(%q): %v", addr, err)
		}
		return d
	}
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		tr := newTransport(t)
		ln, err := tr.Listen(context.Background(), transports.ListenConfig{
			Addr: "127.0.0.1:0",
			Args: transports.Args{"method": "obfs4"},
		})
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		d, err := tr.NewDialer(ln.Addr().String(), ln.BridgeArgs())
		if err != nil {
			ln.Close()
			t.Fatalf("NewDialer(%v): %v", ln.BridgeArgs(), err)
		}
		return ln, d
	}, transporttest.Options{
		DialerTo:    dialerTo,
		NoHalfClose: true, // obfs4proxy closes both directions when one ends
	})
}
