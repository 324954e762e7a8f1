package lab

import (
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/websocket"
)

// wsPath is the WebSocket's secret path on the CDN.
const wsPath = "/q8wz3r5t1y6u0p2l4k7j"

// TestWebSocketEndToEndThroughCDN reaches the gateway only through nginx: the bridge
// line carries the edge's address, and the gateway's own address appears nowhere in it.
func TestWebSocketEndToEndThroughCDN(t *testing.T) {
	edge, gatewayAddr := webtest.WebSocketCDN(t, CDNName, OriginName, wsPath)
	b := StartGateway(t, WithListener(websocket.New(nil), gatewayAddr, edge,
		transports.Args{"servername": OriginName, "path": wsPath, "front": CDNName})).Bridge()
	if b.Addr != edge || b.Args["servername"] != CDNName || b.Args["path"] != wsPath {
		t.Fatalf("bridge line %s: want address %s, servername=%s and path=%s", b.Redacted(), edge, CDNName, wsPath)
	}
	if got := carried(t, websocket.New(webtest.Roots(t)), b, 1<<20); got != websocket.Name {
		t.Fatalf("the transfer was carried by %q, want %s", got, websocket.Name)
	}
}
