package quicobfs

import (
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
)

// TestEndToEndThroughTheGateway runs client → quicobfs → gateway → echo backend.
func TestEndToEndThroughTheGateway(t *testing.T) {
	bridge := webtest.Gateway(t, New(), "127.0.0.1:0", "", nil)
	if _, err := DecodeKey(bridge.Args[argCert]); err != nil {
		t.Fatalf("bridge line cert=: %v", err)
	}
	if got := webtest.Transfer(t, New(), bridge, 1<<20); got != Name {
		t.Fatalf("transfer went over %q; want %q", got, Name)
	}
}
