package obfs4

import (
	"encoding/base64"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/yawning/obfs4.git/common/drbg"
	"gitlab.com/yawning/obfs4.git/common/ntor"

	"github.com/umbrella-edge/edge/transports"
)

func TestIdentityIsKeptInStateDir(t *testing.T) {
	dir := t.TempDir()
	first := listenLoopback(t, transports.ListenConfig{StateDir: dir})
	args := first.BridgeArgs()
	first.Close()
	if args["cert"] == "" || args["iat-mode"] != "0" {
		t.Fatalf("BridgeArgs = %v, want cert= and iat-mode=0", args)
	}
	fi, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatalf("no state file after Listen: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600 (it holds the private key)", StateFile, fi.Mode().Perm())
	}

	again := listenLoopback(t, transports.ListenConfig{StateDir: dir})
	if got := again.BridgeArgs(); got["cert"] != args["cert"] {
		t.Errorf("cert changed across a restart: %s, then %s; bridge lines handed out would stop working", args["cert"], got["cert"])
	}
	again.Close()

	// iat-mode= in the listener's config changes the mode, and the state keeps it.
	split := listenLoopback(t, transports.ListenConfig{StateDir: dir, Args: transports.Args{"iat-mode": "1"}})
	if got := split.BridgeArgs(); got["cert"] != args["cert"] || got["iat-mode"] != "1" {
		t.Errorf("with iat-mode=1: BridgeArgs = %v, want the same cert and iat-mode=1", got)
	}
	split.Close()
	if got := listenLoopback(t, transports.ListenConfig{StateDir: dir}).BridgeArgs(); got["iat-mode"] != "1" {
		t.Errorf("after a restart without iat-mode=: iat-mode=%s, want the 1 kept in the state", got["iat-mode"])
	}
}

func TestNoStateDirMeansAFreshIdentityAndNoFiles(t *testing.T) {
	a := listenLoopback(t, transports.ListenConfig{}).BridgeArgs()
	b := listenLoopback(t, transports.ListenConfig{}).BridgeArgs()
	if a["cert"] == b["cert"] {
		t.Error("two listeners without a state directory share a cert")
	}
	for _, name := range []string{StateFile, "obfs4_bridgeline.txt"} {
		if _, err := os.Stat(name); err == nil {
			t.Errorf("Listen without a state directory wrote %s into the working directory", name)
		}
	}
}

func TestStateFromObfs4proxyIsUsed(t *testing.T) {
	dir := t.TempDir()
	want := writeState(t, dir)
	if got := listenLoopback(t, transports.ListenConfig{StateDir: dir}).BridgeArgs()["cert"]; got != want {
		t.Errorf("cert = %s, want %s from the state file written beforehand", got, want)
	}
}

// writeState writes an obfs4proxy state file into dir and returns the cert it gives.
func writeState(t *testing.T, dir string) string {
	t.Helper()
	seed, err := drbg.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, ntor.NodeIDLength)
	for i := range id {
		id[i] = byte(rand.Intn(256))
	}
	nodeID, err := ntor.NewNodeID(id)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ntor.NewKeypair(false)
	if err != nil {
		t.Fatal(err)
	}
	state, err := json.Marshal(map[string]any{
		"node-id":     nodeID.Hex(),
		"private-key": key.Private().Hex(),
		"public-key":  key.Public().Hex(),
		"drbg-seed":   seed.Hex(),
		"iat-mode":    0,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, StateFile), state, 0o600); err != nil {
		t.Fatal(err)
	}
	raw := append(id, key.Public().Bytes()[:]...)
	return strings.TrimSuffix(base64.StdEncoding.EncodeToString(raw), "==")
}
