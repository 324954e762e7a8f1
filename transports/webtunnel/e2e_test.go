package webtunnel

import (
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
)

func TestEndToEndThroughNginx(t *testing.T) {
	front, gatewayAddr := startFront(t)
	bridge := webtest.Gateway(t, New(), gatewayAddr, front, behindNginxArgs())
	if bridge.Addr != front || bridge.Args[argURL] != testURL || bridge.Args[argServerName] != testServerName {
		t.Fatalf("bridge line %s: want address %s, url=%s and servername=%s", bridge, front, testURL, testServerName)
	}
	if got := webtest.Transfer(t, New(), bridge, 1<<20); got != Name {
		t.Fatalf("the transfer was carried by %q, want %s", got, Name)
	}
}

func TestEndToEndAsItsOwnFront(t *testing.T) {
	bridge := webtest.Gateway(t, New(), "127.0.0.2:0", "", transports.Args{argURL: testURL})
	if got := webtest.Transfer(t, New(), bridge, 1<<20); got != Name {
		t.Fatalf("the transfer was carried by %q, want %s", got, Name)
	}
}
