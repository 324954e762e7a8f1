package fleet

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func randomKey() (k [32]byte) {
	rand.Read(k[:])
	return k
}

// The contract's first rule across edges: of all calls with one key, on any edge of the
// fleet and at once, exactly one is told it is new.
func TestAKeyIsNewOnceAcrossTheFleet(t *testing.T) {
	srv := startRedis(t)
	id := newKey(t)
	edges := []*Fleet{edgeOf(t, srv, "a", id), edgeOf(t, srv, "b", id), edgeOf(t, srv, "c", id)}
	caches := make([]interface {
		CheckAndAdd(context.Context, [32]byte, time.Time) (bool, error)
	}, len(edges))
	for i, e := range edges {
		caches[i] = e.ReplayCache(newLocal())
	}
	for round := range 20 {
		key, expiry := randomKey(), time.Now().Add(2*time.Minute)
		var unseen atomic.Int32
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Go(func() {
				seen, err := caches[i%len(caches)].CheckAndAdd(context.Background(), key, expiry)
				if err != nil {
					t.Errorf("round %d: CheckAndAdd: %v", round, err)
				}
				if !seen {
					unseen.Add(1)
				}
			})
		}
		wg.Wait()
		if n := unseen.Load(); n != 1 {
			t.Fatalf("round %d: %d of 12 calls across 3 edges were told the key is new; want exactly 1", round, n)
		}
	}
}

// A key whose expiry has passed is no longer remembered, by Redis or the local cache.
func TestAnExpiredKeyIsForgotten(t *testing.T) {
	srv := startRedis(t)
	id := newKey(t)
	a, b := edgeOf(t, srv, "a", id).ReplayCache(newLocal()), edgeOf(t, srv, "b", id).ReplayCache(newLocal())
	key, past := randomKey(), time.Now().Add(-time.Second)
	for _, c := range []interface {
		CheckAndAdd(context.Context, [32]byte, time.Time) (bool, error)
	}{a, b, a} {
		if seen, err := c.CheckAndAdd(context.Background(), key, past); seen || err != nil {
			t.Fatalf("CheckAndAdd of an expired key: seen=%v, %v; want unseen", seen, err)
		}
	}
}

// With Redis gone, a hello's check waits at most Wait and fails: the gateway answers
// the hello as garbage. When Redis is back, checks work again.
func TestAnUnreachableRedisFailsTheCheck(t *testing.T) {
	srv := startRedis(t)
	f := edgeOf(t, srv, "a", newKey(t))
	c := f.ReplayCache(newLocal())
	srv.Kill()
	if _, err := c.CheckAndAdd(context.Background(), randomKey(), time.Now().Add(time.Minute)); err == nil {
		t.Fatal("CheckAndAdd with Redis killed: no error; want one (the hello may be a replay)")
	}
	await(t, f, "the edge to see Redis down", func() bool { return !f.Up() })
	if _, err := c.CheckAndAdd(context.Background(), randomKey(), time.Now().Add(time.Minute)); err == nil {
		t.Fatal("CheckAndAdd while Redis is down: no error")
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rejoined(t, f)
	if seen, err := c.CheckAndAdd(context.Background(), randomKey(), time.Now().Add(time.Minute)); seen || err != nil {
		t.Fatalf("CheckAndAdd after Redis came back: seen=%v, %v; want a new key", seen, err)
	}
}

// A Redis that restarts empty has forgotten which hellos were answered; each edge
// writes back the keys it accepted, so a hello answered by one before the outage is
// still a replay at another after it. The restart is quicker than a heartbeat: the
// edges learn of it from the fleet's epoch, not from an outage.
func TestKeysSurviveARedisThatRestartedEmpty(t *testing.T) {
	srv := startRedis(t)
	id := newKey(t)
	a, b := edgeOf(t, srv, "a", id), edgeOf(t, srv, "b", id)
	ca, cb := a.ReplayCache(newLocal()), b.ReplayCache(newLocal())
	key, expiry := randomKey(), time.Now().Add(2*time.Minute)
	if seen, err := ca.CheckAndAdd(context.Background(), key, expiry); seen || err != nil {
		t.Fatalf("first check at a: seen=%v, %v", seen, err)
	}
	srv.Kill()
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	await(t, a, "edge a to find Redis restarted empty", func() bool { return a.dataLosses() == 1 })
	rejoined(t, a)
	rejoined(t, b)
	if seen, err := cb.CheckAndAdd(context.Background(), key, expiry); !seen || err != nil {
		t.Fatalf("the key a accepted before Redis restarted, checked at b after: seen=%v, %v; want seen", seen, err)
	}
}
