package websocket

import (
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
)

// TestEndToEndThroughCDN reaches the gateway only through nginx: the bridge line
// carries the edge's address, and the gateway's own address appears nowhere in it.
func TestEndToEndThroughCDN(t *testing.T) {
	edge, gatewayAddr := startCDN(t)
	bridge := webtest.Gateway(t, New(), gatewayAddr, edge, originArgs())
	if bridge.Addr != edge || bridge.Args[argServerName] != testFront || bridge.Args[argPath] != testPath {
		t.Fatalf("bridge line %s: want address %s, servername=%s and path=%s", bridge, edge, testFront, testPath)
	}
	if got := webtest.Transfer(t, New(), bridge, 1<<20); got != Name {
		t.Fatalf("the transfer was carried by %q, want %s", got, Name)
	}
}
