package lab

import (
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/webtunnel"
)

// The website nginx serves, and the secret path it passes on to the gateway.
const (
	wtServerName = "www.hollowpine.example"
	wtPath       = "/k3v9tq2mzx7c4hw1bn5d"
	wtURL        = "https://" + wtServerName + wtPath
)

func TestWebTunnelEndToEndThroughNginx(t *testing.T) {
	front, gatewayAddr := webtest.WebTunnelFront(t, wtServerName, wtPath)
	b := StartGateway(t, WithListener(webtunnel.New(nil), gatewayAddr, front,
		transports.Args{"tls": "false", "servername": wtServerName, "path": wtPath})).Bridge()
	if b.Addr != front || b.Args["url"] != wtURL || b.Args["servername"] != wtServerName {
		t.Fatalf("bridge line %s: want address %s, url=%s and servername=%s", b.Redacted(), front, wtURL, wtServerName)
	}
	if got := carried(t, webtunnel.New(webtest.Roots(t)), b, 1<<20); got != webtunnel.Name {
		t.Fatalf("the transfer was carried by %q, want %s", got, webtunnel.Name)
	}
}

func TestWebTunnelEndToEndAsItsOwnFront(t *testing.T) {
	b := StartGateway(t, WithListener(webtunnel.New(nil), "127.0.0.2:0", "", transports.Args{"url": wtURL})).Bridge()
	if got := carried(t, webtunnel.New(nil), b, 1<<20); got != webtunnel.Name {
		t.Fatalf("the transfer was carried by %q, want %s", got, webtunnel.Name)
	}
}
