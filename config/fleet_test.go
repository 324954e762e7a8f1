package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// ReadFleetSecrets reads the Redis password from state_dir, refusing a file others
// could read, and makes this edge's link key once.
func TestReadFleetSecretsReadsItsFiles(t *testing.T) {
	dir := t.TempDir()
	g := &Gateway{StateDir: dir, Fleet: &Fleet{Edge: "a", Link: "127.0.0.1:7443",
		Redis: FleetRedis{Addr: "127.0.0.1:6379", PasswordFile: "redis.password"}}}
	pw := filepath.Join(dir, "redis.password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFleetSecrets(g); !errors.Is(err, ErrKeyFileMode) {
		t.Fatalf("a password file of mode 0644: %v; want ErrKeyFileMode", err)
	}
	os.Chmod(pw, 0o600)
	first, err := ReadFleetSecrets(g)
	if err != nil {
		t.Fatal(err)
	}
	if first.RedisPassword != "s3cret" || first.RedisTLS != nil {
		t.Fatalf("ReadFleetSecrets = %+v; want the password and no TLS", first)
	}
	fi, err := os.Stat(filepath.Join(dir, "link.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("link.key: %v, %v; want a file of mode 0600", fi, err)
	}
	again, err := ReadFleetSecrets(g)
	if err != nil || !again.LinkKey.Equal(first.LinkKey) {
		t.Fatalf("a second start made another link key (%v)", err)
	}
}
