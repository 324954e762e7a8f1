package utls

import (
	"errors"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// The TLS arguments are tlskit's, tested there; these are the dialer's own checks.
func TestNewDialerNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		args    transports.Args
		wantKey string
	}{
		{"unknown argument", "203.0.113.5:443", transports.Args{tlskit.ArgServerName: testServerName, "sni": "x"}, "sni"},
		{"IP address without server name", "203.0.113.5:443", transports.Args{}, tlskit.ArgServerName},
		{"unknown fingerprint", "203.0.113.5:443", transports.Args{tlskit.ArgServerName: testServerName, tlskit.ArgFP: "opera"}, tlskit.ArgFP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nil).NewDialer(tt.addr, tt.args)
			var ae *transports.ArgError
			if !errors.As(err, &ae) || ae.Key != tt.wantKey {
				t.Fatalf("NewDialer(%q, %v) = %v, want an ArgError naming %s", tt.addr, tt.args, err, tt.wantKey)
			}
		})
	}
}

func TestNewDialerTakesTheServerNameFromANamedAddress(t *testing.T) {
	d, err := New(nil).NewDialer("bridge.example.net:443", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.(*dialer).tls.ServerName(); got != "bridge.example.net" {
		t.Fatalf("server name %q, want bridge.example.net", got)
	}
}

func TestNewDialerChecksTheAddress(t *testing.T) {
	if _, err := New(nil).NewDialer("bridge.example.net", transports.Args{tlskit.ArgServerName: testServerName}); err == nil {
		t.Fatal("NewDialer accepted an address without a port")
	}
}
