package config

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// Fixed test keys: a key= and a secret= value, and what they decode to.
var (
	testKey     = ed25519.PublicKey(bytes.Repeat([]byte{0x11}, 32))
	testSecret  = session.Secret(bytes.Repeat([]byte{0x22}, 32))
	keyB64      = bridge.EncodeKey(testKey)
	secretB64   = bridge.EncodeKey(testSecret[:])
	sessionArgs = "key=" + keyB64 + " secret=" + secretB64
)

func TestBridgesInYAMLAreBridgeLines(t *testing.T) {
	b := bridge.New("tcp", "[::1]:443", testKey, testSecret, transports.Args{"a": "true"})
	out, err := yaml.Marshal(struct{ Bridges []bridge.Line }{[]bridge.Line{b}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), b.String()) {
		t.Fatalf("YAML %q does not hold the line %q", out, b.String())
	}
	var back struct{ Bridges []bridge.Line }
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Bridges) != 1 || !reflect.DeepEqual(back.Bridges[0], b) {
		t.Fatalf("YAML round trip gave %#v, want %#v", back.Bridges, b)
	}
	// ParseClient names the file and line of a bad bridge; yaml.Unmarshal gives the
	// bridge line's own error.
	err = yaml.Unmarshal([]byte("bridges: [\"tcp 1.2.3.4\"]"), &back)
	var be *bridge.Error
	if !errors.As(err, &be) || be.Field != "address" {
		t.Fatalf("bad line in YAML: error %v, want a *bridge.Error naming the address", err)
	}
}
