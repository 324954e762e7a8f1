package pt

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/obfs4"
)

// TestObfs4proxyKeepsOurObfs4Identity: obfs4proxy started on our obfs4 listener's
// state directory serves the same identity, so an operator can switch implementations
// without handing out new certs.
func TestObfs4proxyKeepsOurObfs4Identity(t *testing.T) {
	dir := t.TempDir()
	ours, err := obfs4.New().Listen(context.Background(), transports.ListenConfig{
		Addr: "127.0.0.1:0", StateDir: filepath.Join(dir, "server-obfs4"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ours.BridgeArgs()["cert"]
	ours.Close()
	if got := listenObfs4(t, newTransport(t), dir).BridgeArgs()["cert"]; got != want {
		t.Errorf("obfs4proxy on our state serves cert %s, want %s", got, want)
	}
}
