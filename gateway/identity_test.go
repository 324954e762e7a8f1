package gateway

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/session"
)

// Bridge lines carry the identity alone, both keys during a rotation's overlap, and
// the next key alone once the switch has passed (a gateway restarted after it, its
// config not yet tidied).
func TestBridgeLinesCarryTheKeysOfTheRotation(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	next := ed25519.NewKeyFromSeed(append(make([]byte, ed25519.SeedSize-1), 1))
	at := time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC)
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	cases := []struct {
		name              string
		rotation          *session.Rotation
		now               time.Time
		wantKey, wantNext ed25519.PublicKey
	}{
		{"no rotation", nil, at, pub(key), nil},
		{"during the overlap", &session.Rotation{Next: next, At: at}, at.Add(-time.Second), pub(key), pub(next)},
		{"at the switch", &session.Rotation{Next: next, At: at}, at, pub(next), nil},
		{"after the switch", &session.Rotation{Next: next, At: at}, at.Add(time.Hour), pub(next), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Identity: key, Rotation: tc.rotation}
			k, n := c.lineKeys(tc.now)
			if !bytes.Equal(k, tc.wantKey) || !bytes.Equal(n, tc.wantNext) {
				t.Errorf("key=%x next-key=%x, want %x %x", k, n, tc.wantKey, tc.wantNext)
			}
		})
	}
}
