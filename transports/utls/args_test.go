package utls

import (
	"errors"
	"testing"

	"github.com/umbrella-edge/edge/transports"
)

func TestNewDialerNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		args    transports.Args
		wantKey string
		wantErr error
	}{
		{"unknown argument", "203.0.113.5:443", transports.Args{argServerName: testServerName, "sni": "x"}, "sni", nil},
		{"IP address without server name", "203.0.113.5:443", transports.Args{}, argServerName, transports.ErrMissingArg},
		{"IP as server name", "203.0.113.5:443", transports.Args{argServerName: "203.0.113.5"}, argServerName, nil},
		{"unknown fingerprint", "203.0.113.5:443", transports.Args{argServerName: testServerName, argFP: "opera"}, argFP, ErrUnknownFingerprint},
		{"fragment size not a number", "203.0.113.5:443", transports.Args{argServerName: testServerName, argFrag: "yes"}, argFrag, nil},
		{"fragment size too large", "203.0.113.5:443", transports.Args{argServerName: testServerName, argFrag: "20000"}, argFrag, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nil).NewDialer(tt.addr, tt.args)
			var ae *transports.ArgError
			if !errors.As(err, &ae) || ae.Key != tt.wantKey {
				t.Fatalf("NewDialer(%q, %v) = %v, want an ArgError naming %s", tt.addr, tt.args, err, tt.wantKey)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewDialer(%q, %v) = %v, want it to wrap %v", tt.addr, tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestNewDialerAccepts(t *testing.T) {
	tests := []struct {
		name           string
		addr           string
		args           transports.Args
		wantServerName string
		wantFP         string
	}{
		{"defaults to chrome", "203.0.113.5:443", transports.Args{argServerName: "www.example.com"}, "www.example.com", FPChrome},
		{"server name from a named address", "bridge.example.net:443", nil, "bridge.example.net", FPChrome},
		{"explicit server name beats the address", "bridge.example.net:443", transports.Args{argServerName: "cdn.example.com"}, "cdn.example.com", FPChrome},
		{"firefox", "203.0.113.5:443", transports.Args{argServerName: "a.example", argFP: FPFirefox}, "a.example", FPFirefox},
		{"safari", "203.0.113.5:443", transports.Args{argServerName: "a.example", argFP: FPSafari}, "a.example", FPSafari},
		{"fragmented", "203.0.113.5:443", transports.Args{argServerName: "a.example", argFrag: "1"}, "a.example", FPChrome},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(nil).NewDialer(tt.addr, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			got := d.(*dialer)
			if got.tls.ServerName() != tt.wantServerName || got.tls.Fingerprint() != tt.wantFP {
				t.Fatalf("server name %q, fingerprint %s; want %q, %s", got.tls.ServerName(), got.tls.Fingerprint(), tt.wantServerName, tt.wantFP)
			}
		})
	}
}

func TestRandomFingerprintIsOneOfTheBrowsers(t *testing.T) {
	seen := map[string]bool{}
	for range 60 {
		d, err := New(nil).NewDialer("203.0.113.5:443", transports.Args{argServerName: "a.example", argFP: FPRandom})
		if err != nil {
			t.Fatal(err)
		}
		seen[d.(*dialer).tls.Fingerprint()] = true
	}
	// 60 picks miss one of three browsers with probability about 3·(2/3)^60 < 1e-10.
	if len(seen) != 3 || !seen[FPChrome] || !seen[FPFirefox] || !seen[FPSafari] {
		t.Fatalf("fp=random chose %v, want each of chrome, firefox and safari", seen)
	}
}
