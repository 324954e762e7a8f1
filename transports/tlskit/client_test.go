package tlskit

import (
	"errors"
	"testing"

	"github.com/umbrella-edge/edge/transports"
)

func TestNewClientNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		args    transports.Args
		wantKey string
		wantErr error
	}{
		{"IP address without server name", "203.0.113.5", transports.Args{}, ArgServerName, transports.ErrMissingArg},
		{"IP as server name", "203.0.113.5", transports.Args{ArgServerName: "203.0.113.5"}, ArgServerName, nil},
		{"unknown fingerprint", "203.0.113.5", transports.Args{ArgServerName: testServerName, ArgFP: "opera"}, ArgFP, ErrUnknownFingerprint},
		{"fragment size not a number", "203.0.113.5", transports.Args{ArgServerName: testServerName, ArgFrag: "yes"}, ArgFrag, nil},
		{"fragment size too large", "203.0.113.5", transports.Args{ArgServerName: testServerName, ArgFrag: "20000"}, ArgFrag, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.host, tt.args, nil)
			var ae *transports.ArgError
			if !errors.As(err, &ae) || ae.Key != tt.wantKey {
				t.Fatalf("NewClient(%q, %v) = %v, want an ArgError naming %s", tt.host, tt.args, err, tt.wantKey)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewClient(%q, %v) = %v, want it to wrap %v", tt.host, tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestNewClientAccepts(t *testing.T) {
	tests := []struct {
		name           string
		host           string
		args           transports.Args
		wantServerName string
		wantFP         string
	}{
		{"defaults to chrome", "203.0.113.5", transports.Args{ArgServerName: "www.example.com"}, "www.example.com", FPChrome},
		{"server name from a named host", "bridge.example.net", nil, "bridge.example.net", FPChrome},
		{"explicit server name beats the host", "bridge.example.net", transports.Args{ArgServerName: "cdn.example.com"}, "cdn.example.com", FPChrome},
		{"firefox", "203.0.113.5", transports.Args{ArgServerName: "a.example", ArgFP: FPFirefox}, "a.example", FPFirefox},
		{"safari", "203.0.113.5", transports.Args{ArgServerName: "a.example", ArgFP: FPSafari}, "a.example", FPSafari},
		{"fragmented", "203.0.113.5", transports.Args{ArgServerName: "a.example", ArgFrag: "1"}, "a.example", FPChrome},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := NewClient(tt.host, tt.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.ServerName() != tt.wantServerName || tc.Fingerprint() != tt.wantFP {
				t.Fatalf("server name %q, fingerprint %s; want %q, %s", tc.ServerName(), tc.Fingerprint(), tt.wantServerName, tt.wantFP)
			}
		})
	}
}

func TestRandomFingerprintIsOneOfTheBrowsers(t *testing.T) {
	seen := map[string]bool{}
	for range 60 {
		tc, err := NewClient("203.0.113.5", transports.Args{ArgServerName: "a.example", ArgFP: FPRandom}, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[tc.Fingerprint()] = true
	}
	// 60 picks miss one of three browsers with probability about 3·(2/3)^60 < 1e-10.
	if len(seen) != 3 || !seen[FPChrome] || !seen[FPFirefox] || !seen[FPSafari] {
		t.Fatalf("fp=random chose %v, want each of chrome, firefox and safari", seen)
	}
}
