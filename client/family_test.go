package client

import (
	"testing"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/transports"
)

func TestFamilyOf(t *testing.T) {
	tests := []struct {
		transport string
		args      transports.Args
		want      string
	}{
		{"obfs4", nil, "stream-random"},
		{"webtunnel", nil, "tls"},
		{"meek", nil, "cdn"},
		{"quicobfs", nil, "udp"},
		{"dns", transports.Args{"domain": "t.example.org"}, "dns"},
		{"pt", transports.Args{"method": "dnstt"}, "dns"},
		{"webrtc", nil, "webrtc"},
	}
	for _, tt := range tests {
		if got := FamilyOf(bridge.Line{Transport: tt.transport, Args: tt.args}); got != tt.want {
			t.Errorf("FamilyOf(%s %v) = %q, want %q", tt.transport, tt.args, got, tt.want)
		}
	}
}
