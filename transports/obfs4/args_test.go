package obfs4

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/transports"
)

// A cert as obfs4proxy prints it: 52 bytes of base64 without the trailing "==".
var goodCert = strings.TrimSuffix(base64.StdEncoding.EncodeToString(make([]byte, certLen)), "==")

func TestNameIsObfs4(t *testing.T) {
	if got := New().Name(); got != "obfs4" {
		t.Errorf("Name() = %q, want obfs4", got)
	}
}

func TestNewDialerRejectsBadBridgeLines(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		args    transports.Args
		wantKey string // the ArgError's key, if the fault is an argument
	}{
		{"missing cert", "192.0.2.1:443", transports.Args{"iat-mode": "0"}, "cert"},
		{"empty cert", "192.0.2.1:443", transports.Args{"cert": ""}, "cert"},
		{"cert too short", "192.0.2.1:443", transports.Args{"cert": goodCert[:60]}, "cert"},
		{"cert with its padding", "192.0.2.1:443", transports.Args{"cert": goodCert + "=="}, "cert"},
		{"cert not base64", "192.0.2.1:443", transports.Args{"cert": strings.Repeat("!", len(goodCert))}, "cert"},
		{"iat-mode out of range", "192.0.2.1:443", transports.Args{"cert": goodCert, "iat-mode": "3"}, "iat-mode"},
		{"iat-mode not a number", "192.0.2.1:443", transports.Args{"cert": goodCert, "iat-mode": "on"}, "iat-mode"},
		{"old node-id style named as unknown", "192.0.2.1:443", transports.Args{"node-id": "00", "public-key": "00"}, "node-id"},
		{"missing port", "192.0.2.1", transports.Args{"cert": goodCert}, ""},
		{"missing host", ":443", transports.Args{"cert": goodCert}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New().NewDialer(tt.addr, tt.args)
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
			if tt.wantKey == "cert" && strings.Contains(err.Error(), tt.args["cert"]) && tt.args["cert"] != "" {
				t.Errorf("error repeats the cert, which lets a censor probe the bridge: %v", err)
			}
		})
	}
}

func TestNewDialerAcceptsTorBridgeLineArgs(t *testing.T) {
	for _, args := range []transports.Args{
		{"cert": goodCert, "iat-mode": "0"},
		{"cert": goodCert, "iat-mode": "1"},
		{"cert": goodCert, "iat-mode": "2"},
		{"cert": goodCert}, // iat-mode defaults to 0
	} {
		if _, err := New().NewDialer("bridge.example.net:443", args); err != nil {
			t.Errorf("NewDialer(%v): %v", args, err)
		}
	}
}

func TestListenRejectsBadArguments(t *testing.T) {
	for _, args := range []transports.Args{
		{"iat-mode": "3"},
		{"iat-mode": "-1"},
		{"cert": goodCert}, // a client argument: the listener's cert comes from its state
	} {
		ln, err := New().Listen(t.Context(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: args, StateDir: t.TempDir()})
		if err == nil {
			ln.Close()
			t.Errorf("Listen(%v) succeeded, want an error", args)
			continue
		}
		var ae *transports.ArgError
		if !errors.As(err, &ae) {
			t.Errorf("Listen(%v): got %v, want an ArgError", args, err)
		}
	}
}

// FuzzClientArgs feeds bridge-line arguments to NewDialer: it must never panic, must
// name the argument it refuses, and what it accepts must be what obfs4 can use.
func FuzzClientArgs(f *testing.F) {
	f.Add(goodCert, "0")
	f.Add(goodCert, "2")
	f.Add(goodCert+"==", "1")
	f.Add("", "")
	f.Add(goodCert[:69]+"\x00", "00")
	f.Add("AAAA", "+1")
	f.Fuzz(func(t *testing.T, cert, iat string) {
		args := transports.Args{"cert": cert, "iat-mode": iat}
		_, err := New().NewDialer("192.0.2.1:443", args)
		if err != nil {
			var ae *transports.ArgError
			if !errors.As(err, &ae) || (ae.Key != "cert" && ae.Key != "iat-mode") {
				t.Fatalf("NewDialer(%q, %q): %v, want an ArgError naming cert or iat-mode", cert, iat, err)
			}
			return
		}
		raw, derr := base64.StdEncoding.DecodeString(cert + "==")
		if derr != nil || len(raw) != certLen {
			t.Fatalf("NewDialer accepted cert %q, which is not %d bytes of base64", cert, certLen)
		}
		if n, err := strconv.Atoi(iat); err != nil || n < 0 || n > 2 {
			t.Fatalf("NewDialer accepted iat-mode %q", iat)
		}
	})
}
