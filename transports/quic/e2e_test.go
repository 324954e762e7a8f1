package quic

import (
	"strconv"
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
)

// TestEndToEndThroughTheGateway runs client → quic → gateway → echo backend.
func TestEndToEndThroughTheGateway(t *testing.T) {
	bridge := webtest.Gateway(t, New(), "127.0.0.1:0", "", transports.Args{argServerName: testServerName})
	if got := bridge.Args[argServerName]; got != testServerName {
		t.Fatalf("bridge line servername=%q; want %q", got, testServerName)
	}
	if got := webtest.Transfer(t, New(), bridge, 1<<20); got != Name {
		t.Fatalf("transfer went over %q; want %q", got, Name)
	}
}

// TestGatewayServesTheSiteToProbers sends what a prober that knows the carrier's
// framing but not the bridge secret can send, then a request on the same stream: the
// gateway rejects the carrier and the request gets the page a browser gets.
func TestGatewayServesTheSiteToProbers(t *testing.T) {
	bridge := webtest.Gateway(t, New(), "127.0.0.1:0", "", transports.Args{argServerName: testServerName})
	code, want := builtInPage(t, "/")
	for _, prefix := range [][]byte{nil, carrierFrames(0), carrierFrames(2316), carrierFrames(20, 20, 20)} {
		peer := dialH3(t, bridge.Addr)
		status, body := peer.get(t, prefix, "/")
		if status != strconv.Itoa(code) || string(body) != string(want) {
			t.Errorf("GET after %d bytes of carrier frames = %s with %d bytes; want %d with the site's %d bytes", len(prefix), status, len(body), code, len(want))
		}
	}
}
