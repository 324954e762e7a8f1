package obfs4

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
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
	for _, mode := range []string{"1"} { // a listener refuses 2: see TestListenerRefusesParanoidIAT
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

// A listener refuses iat-mode=2, naming the argument: the reference library's paranoid
// writes fail every few megabytes.
func TestListenerRefusesParanoidIAT(t *testing.T) {
	cfg := transports.ListenConfig{Addr: "127.0.0.1:0", Args: transports.Args{"iat-mode": "2"}}
	ln, err := New().Listen(context.Background(), cfg)
	if err == nil {
		ln.Close()
		t.Fatal("a listener with iat-mode=2 started")
	}
	var ae *transports.ArgError
	if !errors.As(err, &ae) || ae.Key != "iat-mode" || !errors.Is(err, errParanoidIAT) {
		t.Errorf("Listen with iat-mode=2: %v; want an ArgError naming iat-mode=", err)
	}
}

// panicking is a library conn whose Write panics as the reference library's paranoid
// mode does.
type panicking struct{ net.Conn }

func (panicking) Write([]byte) (int, error) { panic("BUG: Write(), iat length was 0") }

// A panic inside the library's Write costs the carrier, not the process: the write
// fails, the TCP carrier is closed, and no later write is tried on a broken encoder.
func TestALibraryPanicFailsTheCarrier(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c := newConn(panicking{raw}, raw.(*net.TCPConn))
	if n, err := c.Write([]byte("hello")); n != 0 || !errors.Is(err, errLibraryPanic) {
		t.Fatalf("Write through a panicking library: %d, %v; want 0 and errLibraryPanic", n, err)
	}
	if _, err := c.Write([]byte("again")); !errors.Is(err, errLibraryPanic) {
		t.Errorf("a second Write: %v; want the first failure again", err)
	}
	peer.SetReadDeadline(time.Now().Add(time.Minute)) // only against a hang
	if _, err := peer.Read(make([]byte, 1)); err == nil {
		t.Error("the peer read from a carrier that should be closed")
	}
}
