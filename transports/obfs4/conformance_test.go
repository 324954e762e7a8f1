package obfs4

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

// listenLoopback starts a listener on loopback with args and closes it when t ends.
func listenLoopback(t *testing.T, cfg transports.ListenConfig) transports.Listener {
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
	someIdentity := listenLoopback(t, transports.ListenConfig{}).BridgeArgs()
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

// TestIATModesCarryData checks the two modes that reshape writes (MTU-sized bursts,
// paranoid random sizes with delays) on a transfer small enough for their pace.
func TestIATModesCarryData(t *testing.T) {
	for _, mode := range []string{"1", "2"} {
		t.Run("iat-mode="+mode, func(t *testing.T) {
			ln := listenLoopback(t, transports.ListenConfig{Args: transports.Args{"iat-mode": mode}})
			if got := ln.BridgeArgs()["iat-mode"]; got != mode {
				t.Fatalf("BridgeArgs iat-mode = %q, want %q", got, mode)
			}
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
				close(accepted)
			}()
			client, err := dialerFor(t, ln).Dial(t.Context())
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer client.Close()
			server, ok := <-accepted
			if !ok {
				t.Fatal("Accept failed")
			}
			defer server.Close()
			go io.Copy(server, server)
			data := make([]byte, 64<<10)
			rand.Read(data)
			go client.Write(data)
			got := make([]byte, len(data))
			client.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := io.ReadFull(client, got); err != nil {
				t.Fatalf("reading the echo: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("the echo differs from what was sent")
			}
		})
	}
}
