package fleet

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/internal/redistest"
	"github.com/umbrella-edge/edge/session"
)

// fleetACL is the Redis ACL an edge needs, as docs/fleet.md gives it: the fleet's keys
// and channel, and the commands it sends, nothing else.
var fleetACL = []string{"~umbrella:*", "&umbrella:*", "+hello", "+auth", "+ping", "+client|setname",
	"+set", "+setnx", "+get", "+del", "+sadd", "+smembers", "+multi", "+exec", "+publish", "+subscribe"}

// An edge works with a Redis user allowed the fleet's keys and commands alone, and
// the default user switched off.
func TestARedisUserWithTheFleetsCommandsIsEnough(t *testing.T) {
	srv, err := redistest.Run(context.Background(), t.TempDir(), redistest.Options{Users: [][]string{
		{"default", "off"},
		append([]string{"edge", "on", ">edge-password"}, fleetACL...),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	id := newKey(t)
	user := func(c *Config) { c.Redis.Username, c.Redis.Password = "edge", "edge-password" }
	a, b := edgeOf(t, srv, "a", id, user), edgeOf(t, srv, "b", id, user)
	ctx := context.Background()
	key := randomKey()
	if seen, err := a.ReplayCache(newLocal()).CheckAndAdd(ctx, key, time.Now().Add(time.Minute)); seen || err != nil {
		t.Fatalf("replay check at a: %v, %v", seen, err)
	}
	if seen, err := b.ReplayCache(newLocal()).CheckAndAdd(ctx, key, time.Now().Add(time.Minute)); !seen || err != nil {
		t.Fatalf("replay check at b: %v, %v; want seen", seen, err)
	}
	st := session.State{ID: session.ID{9}}
	if err := a.Directory().Put(ctx, st); err != nil {
		t.Fatal(err)
	}
	if e, err := b.dir.lookup(ctx, st.ID); err != nil || e.Edge != "a" {
		t.Fatalf("directory at b: %+v, %v", e, err)
	}
	if err := a.RevokeSecrets(ctx, secret(5)); err != nil {
		t.Fatal(err)
	}
	await(t, b, "the revocation", func() bool { return len(b.Allowed([]session.Secret{secret(5)})) == 0 })
	if err := a.Directory().Delete(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
}

// An edge reaches a Redis that speaks TLS only, checking its certificate.
func TestRedisOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := labca.New("fleet test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.WriteKeyPair(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := ca.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	srv, err := redistest.Run(context.Background(), dir, redistest.Options{TLS: redistest.TLSFiles{CertFile: cert, KeyFile: key, CAFile: caFile}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	a := edgeOf(t, srv, "a", newKey(t), func(c *Config) {
		c.Redis.Password = ""
		c.Redis.TLS = &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	})
	if seen, err := a.ReplayCache(newLocal()).CheckAndAdd(context.Background(), randomKey(), time.Now().Add(time.Minute)); seen || err != nil {
		t.Fatalf("replay check over TLS: %v, %v", seen, err)
	}
}
