package quicobfs

import (
	"context"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// hangGuard bounds every wait in these tests; it only turns a hang into a failure.
const hangGuard = 20 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// listenLoopback starts a quicobfs listener on 127.0.0.1 that lives as long as the
// test; its carriers are accepted and closed.
func listenLoopback(t *testing.T, stateDir string) transports.Listener {
	t.Helper()
	ln, err := New().Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0", StateDir: stateDir})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

func dialerTo(t *testing.T, addr string, args transports.Args) transports.Dialer {
	t.Helper()
	d, err := New().NewDialer(addr, args)
	if err != nil {
		t.Fatalf("NewDialer(%v): %v", args, err)
	}
	return d
}
