package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/redistest"
	"github.com/umbrella-edge/edge/session"
)

// guard bounds every wait of these tests; it only keeps a broken build from hanging.
const guard = 30 * time.Second

const redisPassword = "fleet-test-password"

// startRedis runs a real redis-server that wants a password, for one test.
func startRedis(t *testing.T) *redistest.Server {
	t.Helper()
	srv, err := redistest.Run(context.Background(), t.TempDir(), redistest.Options{Password: redisPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return srv
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// edgeOf opens edge name of the fleet whose identity is id, on srv, and waits until
// it has joined.
func edgeOf(t *testing.T, srv *redistest.Server, name string, id ed25519.PrivateKey, opts ...func(*Config)) *Fleet {
	t.Helper()
	cfg := Config{
		Edge: name, Identity: id, LinkKey: newKey(t), Link: "127.0.0.1:0",
		Redis: RedisConfig{Addr: srv.Addr, Password: redisPassword},
	}
	for _, o := range opts {
		o(&cfg)
	}
	f, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := f.AwaitUp(ctx); err != nil {
		t.Fatalf("edge %s did not join the fleet: %v\n%s", name, err, srv.Output())
	}
	return f
}

// await waits until cond holds, woken by every change f sees (and, for what Redis
// does on its own, by its heartbeat).
func await(t *testing.T, f *Fleet, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(guard)
	for !cond() {
		select {
		case <-f.Changed():
		case <-time.After(heartbeat):
		case <-deadline:
			t.Fatalf("timed out waiting for %s on edge %s", what, f.Edge())
		}
	}
}

func newLocal() session.ReplayCache { return session.NewReplayCache(0) }

// rejoined waits until f has found Redis again and settled.
func rejoined(t *testing.T, f *Fleet) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := f.AwaitUp(ctx); err != nil {
		t.Fatalf("edge %s did not come back: %v", f.Edge(), err)
	}
}
