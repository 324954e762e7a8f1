package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway/fleet"
	"github.com/umbrella-edge/edge/internal/redistest"
)

// A link key listed in one edge's config (revoked_link_keys) is refused by the others
// once that edge starts: its own edge learns it through Redis.
func TestALinkKeyRevokedInTheConfigReachesTheFleet(t *testing.T) {
	ctx := context.Background()
	srv, err := redistest.Run(ctx, t.TempDir(), redistest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	_, identity, _ := ed25519.GenerateKey(rand.Reader)
	open := func(edge string, revoked ...config.LinkKey) *fleet.Fleet {
		gc := &config.Gateway{StateDir: t.TempDir(), Fleet: &config.Fleet{Edge: edge, Link: "127.0.0.1:0",
			Redis: config.FleetRedis{Addr: srv.Addr}, RevokedLinkKeys: revoked}}
		f, err := openFleet(ctx, gc, identity, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	b := open("edge-b")
	changed := b.Changed()
	open("edge-a", config.LinkKey(b.LinkKey()))
	deadline := time.After(30 * time.Second) // only keeps a broken build from hanging
	for !b.KeyRevoked(b.LinkKey()) {
		select {
		case <-changed:
			changed = b.Changed()
		case <-deadline:
			t.Fatal("edge-b never learnt that its link key was revoked in edge-a's config")
		}
	}
}
