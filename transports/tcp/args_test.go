package tcp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
)

func TestNameIsTCP(t *testing.T) {
	if got := tcp.New().Name(); got != "tcp" {
		t.Errorf("Name() = %q, want %q", got, "tcp")
	}
}

func TestNewDialerRejectsBadBridgeLines(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		args    transports.Args
		wantKey string // the ArgError's key, if the fault is an argument
	}{
		{name: "unknown argument named", addr: "192.0.2.1:443", args: transports.Args{"cert": "x"}, wantKey: "cert"},
		{name: "first unknown argument named", addr: "192.0.2.1:443", args: transports.Args{"sni": "a", "iat-mode": "0"}, wantKey: "iat-mode"},
		{name: "missing port", addr: "192.0.2.1"},
		{name: "missing host", addr: ":443"},
		{name: "port zero", addr: "192.0.2.1:0"},
		{name: "port too large", addr: "192.0.2.1:65536"},
		{name: "named port", addr: "192.0.2.1:https"},
		{name: "empty", addr: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tcp.New().NewDialer(tt.addr, tt.args)
			if err == nil {
				t.Fatalf("NewDialer(%q, %v) = %v, want an error", tt.addr, tt.args, d)
			}
			var ae *transports.ArgError
			isArg := errors.As(err, &ae)
			if tt.wantKey == "" && isArg {
				t.Errorf("NewDialer(%q): got ArgError %v, want an address error", tt.addr, err)
			}
			if tt.wantKey != "" && (!isArg || ae.Key != tt.wantKey) {
				t.Errorf("NewDialer(%q, %v): got %v, want an ArgError for %q", tt.addr, tt.args, err, tt.wantKey)
			}
		})
	}
}

func TestNewDialerAcceptsHostPort(t *testing.T) {
	for _, addr := range []string{"192.0.2.1:443", "[2001:db8::1]:443", "bridge.example.net:80", "127.0.0.1:65535"} {
		if _, err := tcp.New().NewDialer(addr, transports.Args{}); err != nil {
			t.Errorf("NewDialer(%q): %v", addr, err)
		}
		if _, err := tcp.New().NewDialer(addr, nil); err != nil {
			t.Errorf("NewDialer(%q, nil args): %v", addr, err)
		}
	}
}

func TestListenRejectsUnknownArgs(t *testing.T) {
	ln, err := tcp.New().Listen(context.Background(), transports.ListenConfig{
		Addr: "127.0.0.1:0",
		Args: transports.Args{"port": "443"},
	})
	if err == nil {
		ln.Close()
		t.Fatal("Listen with an unknown argument succeeded")
	}
	var ae *transports.ArgError
	if !errors.As(err, &ae) || ae.Key != "port" {
		t.Errorf("Listen: got %v, want an ArgError for %q", err, "port")
	}
}

func TestBridgeArgsAreEmpty(t *testing.T) {
	ln, err := tcp.New().Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	if args := ln.BridgeArgs(); args == nil || len(args) != 0 {
		t.Errorf("BridgeArgs() = %v, want empty and non-nil", args)
	}
}

func TestDialRefusedNamesTheTransport(t *testing.T) {
	ln, err := tcp.New().Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	d, err := tcp.New().NewDialer(addr, nil)
	if err != nil {
		t.Fatalf("NewDialer: %v", err)
	}
	c, err := d.Dial(context.Background())
	if err == nil {
		c.Close()
		t.Fatalf("Dial to closed port %s succeeded", addr)
	}
	if got := err.Error(); len(got) < 5 || got[:5] != "tcp: " {
		t.Errorf("Dial error %q does not start with the transport's name", got)
	}
}

// FuzzNewDialer feeds arbitrary bridge-line addresses and arguments (which may come
// from a scanned QR code) to NewDialer, which must reject or accept without panicking.
func FuzzNewDialer(f *testing.F) {
	f.Add("192.0.2.1:443", "", "")
	f.Add("[2001:db8::1]:443", "cert", "abc")
	f.Add(":", "", "")
	f.Add("[::1", "x", "")
	f.Add("host:99999999999999999999", "", "")
	f.Fuzz(func(t *testing.T, addr, key, value string) {
		args := transports.Args{}
		if key != "" {
			args[key] = value
		}
		d, err := tcp.New().NewDialer(addr, args)
		if err == nil && d == nil {
			t.Fatalf("NewDialer(%q, %v) returned neither dialer nor error", addr, args)
		}
		if err == nil && key != "" {
			t.Fatalf("NewDialer(%q, %v) accepted an argument tcp does not have", addr, args)
		}
	})
}
