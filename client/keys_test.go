package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/session"
)

// A gateway rotating its identity key teaches the client its next key, which the
// client keeps in its state directory: a client started later with the same old
// bridge line reaches the gateway after the switch, and one with no state fails as
// with a wrong key.
func TestClientKeepsTheNextIdentityKeyItLearned(t *testing.T) {
	_, old, _ := ed25519.GenerateKey(rand.Reader)
	_, next, _ := ed25519.GenerateKey(rand.Reader)
	nextPub := next.Public().(ed25519.PublicKey)
	overlap := lab.StartGateway(t, func(c *gateway.Config) {
		c.Identity, c.Rotation = old, &session.Rotation{Next: next, At: time.Now().Add(time.Hour)}
	}).Bridges()[0]
	if !overlap.NextKey.Equal(nextPub) {
		t.Fatalf("a line printed during the overlap carries next-key %x, want the next key", overlap.NextKey)
	}
	oldLine := overlap
	oldLine.NextKey = nil // as handed out before the rotation began

	dir := t.TempDir()
	use(t, dir, "home", oldLine, 0)
	if raw, _ := os.ReadFile(filepath.Join(dir, "networks.json")); !strings.Contains(string(raw), `"keys"`) {
		t.Fatalf("networks.json after a session during the overlap holds no learned key:\n%s", raw)
	}

	// The same gateway after the switch: its next key alone, the same secret.
	switched := lab.StartGateway(t, func(c *gateway.Config) {
		c.Identity, c.Secrets = next, []session.Secret{oldLine.Secret}
	}).Bridges()[0]
	if !switched.Key.Equal(nextPub) || switched.NextKey != nil {
		t.Fatalf("after the switch the gateway prints key %x next-key %x", switched.Key, switched.NextKey)
	}
	after := oldLine
	after.Addr = switched.Addr // the same line, at the switched gateway
	use(t, dir, "home", after, 1000)

	c, err := client.New(client.Config{Bridges: []bridge.Line{after}, Transports: registry(t), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	if err := c.Connect(ctx); !errors.Is(err, session.ErrAuth) {
		t.Fatalf("a client that never learned the next key: %v, want ErrAuth", err)
	}
}
