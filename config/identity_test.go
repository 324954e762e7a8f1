package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A rotation's next key is made on start beside the identity, private like it, and
// comes back as the same key on the next start.
func TestResolveIdentityMakesTheNextKey(t *testing.T) {
	dir := t.TempDir()
	switchAt := time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC)
	g := &Gateway{StateDir: dir, Identity: Identity{Next: "identity-next.key", SwitchAt: switchAt}}
	key, rot, err := ResolveIdentity(g)
	if err != nil {
		t.Fatal(err)
	}
	if rot == nil || !rot.At.Equal(switchAt) || rot.Next.Equal(key) {
		t.Fatalf("rotation %+v beside key %x, want a next key of its own switching at %v", rot, key.Public(), switchAt)
	}
	fi, err := os.Stat(filepath.Join(dir, "identity-next.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity-next.key has mode %04o, want 0600", fi.Mode().Perm())
	}
	key2, rot2, err := ResolveIdentity(g)
	if err != nil || !key2.Equal(key) || !rot2.Next.Equal(rot.Next) {
		t.Fatalf("the second start read other keys (err %v)", err)
	}

	// After the rotation the operator names the next key as the key.
	after := &Gateway{StateDir: dir, Identity: Identity{Key: "identity-next.key"}}
	if k, r, err := ResolveIdentity(after); err != nil || r != nil || !k.Equal(rot.Next) {
		t.Fatalf("identity: {key: identity-next.key} gave key %x rotation %v err %v, want the next key alone", k.Public(), r, err)
	}
}

// A next key file others may read is refused, naming identity.next.
func TestResolveIdentityRefusesAReadableNextKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "next.key")
	if _, _, err := LoadOrCreateIdentity(path); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	g := &Gateway{StateDir: dir, Identity: Identity{Next: "next.key", SwitchAt: time.Now()}}
	if _, _, err := ResolveIdentity(g); err == nil || !strings.Contains(err.Error(), "identity.next") {
		t.Fatalf("a 0644 next key: %v, want an error naming identity.next", err)
	}
	if errs := checkIdentity(g); len(errs) != 1 {
		t.Fatalf("checkIdentity: %v, want one error", errs)
	}
}
