package client_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
)

// firstAttempt runs a client of bridges on network ("": the one the client names
// itself) with stateDir until it connects and returns the bridge it tried first. The
// head start is long, so it tries one at a time.
func firstAttempt(t *testing.T, stateDir, network string, bridges ...bridge.Line) int {
	t.Helper()
	rec := newRecorder()
	cfg := client.Config{Bridges: bridges, Transports: registry(t), StateDir: stateDir, HeadStart: time.Hour, OnEvent: rec.on}
	if network != "" {
		cfg.Network = func() string { return network }
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return rec.waitFor(t, client.EventAttempt).Bridge
}

// use runs a client of b on network and moves data of size through it, then waits
// for the memory file to change.
func use(t *testing.T, stateDir, network string, b bridge.Line, size int) {
	t.Helper()
	file := filepath.Join(stateDir, "networks.json")
	before, _ := os.ReadFile(file)
	c, err := client.New(client.Config{Bridges: []bridge.Line{b}, Transports: registry(t),
		StateDir: stateDir, Network: func() string { return network }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if size == 0 {
		return
	}
	echo(t, c, bytes.Repeat([]byte("x"), size))
	for deadline := time.Now().Add(hangTimeout); ; time.Sleep(20 * time.Millisecond) {
		if now, _ := os.ReadFile(file); !bytes.Equal(now, before) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the client moved data and did not remember the bridge")
		}
	}
}

func TestWhatCarriedDataGoesFirstOnThatNetworkOnly(t *testing.T) {
	bridges := startGateway(t, "tcp", "tcp")
	a, b := bridges[0], bridges[1]
	dir := t.TempDir()

	use(t, dir, "home", b, 0) // a session, but no data
	if got := firstAttempt(t, dir, "home", a, b); got != 0 {
		t.Errorf("after a session that moved no data, bridge %d went first, want 0 (config order)", got)
	}
	use(t, dir, "home", b, 32<<10)
	if got := firstAttempt(t, dir, "home", a, b); got != 1 {
		t.Errorf("after data moved on bridge 1, bridge %d went first, want 1", got)
	}
	if got := firstAttempt(t, dir, "café", a, b); got != 0 {
		t.Errorf("on another network bridge %d went first, want 0", got)
	}
}

func TestAFailedBridgeIsTriedLastNextTime(t *testing.T) {
	good := startGateway(t)[0]
	refused := refusedBridge(t, good)
	dir := t.TempDir()
	if got := firstAttempt(t, dir, "home", refused, good); got != 0 {
		t.Fatalf("first run tried bridge %d first, want 0", got)
	}
	if got := firstAttempt(t, dir, "home", refused, good); got != 1 {
		t.Errorf("after bridge 0 failed, bridge %d went first, want 1", got)
	}
}

// umbrella probe --seed-client: the bridge a probe found best goes first for the next
// client on this network, which the client names itself (its default Network).
func TestSeedPutsTheProbedBridgeFirst(t *testing.T) {
	bridges := startGateway(t, "tcp", "tcp")
	dir := t.TempDir()
	if err := client.Seed(dir, bridges, 1, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := firstAttempt(t, dir, "", bridges...); got != 1 {
		t.Errorf("after seeding bridge 1, bridge %d went first", got)
	}
}
