package session

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func replayKeyN(n int) (k [32]byte) {
	binary.BigEndian.PutUint64(k[:], uint64(n))
	return k
}

// fakeClock is a settable clock for the replay cache.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestReplayCache(max int) (*memoryReplayCache, *fakeClock) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	c := NewReplayCache(max).(*memoryReplayCache)
	c.now = clock.now
	return c, clock
}

func TestReplayCacheRemembersUntilExpiry(t *testing.T) {
	c, clock := newTestReplayCache(10)
	expiry := clock.t.Add(time.Minute)
	if c.CheckAndAdd(replayKeyN(1), expiry) {
		t.Fatal("a new key was reported as seen")
	}
	if !c.CheckAndAdd(replayKeyN(1), expiry) {
		t.Fatal("a key added a moment ago was not reported as seen")
	}
	if c.CheckAndAdd(replayKeyN(2), expiry) {
		t.Fatal("a different key was reported as seen")
	}
	clock.t = expiry
	if c.CheckAndAdd(replayKeyN(1), expiry.Add(time.Minute)) {
		t.Fatal("a key past its expiry was still reported as seen")
	}
	if !c.CheckAndAdd(replayKeyN(1), expiry.Add(time.Minute)) {
		t.Fatal("a key re-added after expiry was not remembered")
	}
}

func TestReplayCacheStaysBounded(t *testing.T) {
	const max = 100
	c, clock := newTestReplayCache(max)
	expiry := clock.t.Add(time.Hour)
	for i := range 10 * max {
		c.CheckAndAdd(replayKeyN(i), expiry)
		if len(c.seen) > max {
			t.Fatalf("after %d adds the cache holds %d keys, more than its bound %d", i+1, len(c.seen), max)
		}
	}
	if len(c.queue)-c.head > max {
		t.Fatalf("queue holds %d live entries, bound %d", len(c.queue)-c.head, max)
	}
	// The newest keys are the ones kept.
	if !c.CheckAndAdd(replayKeyN(10*max-1), expiry) {
		t.Fatal("the newest key was evicted")
	}
}

func TestReplayCacheForgetsExpiredEntries(t *testing.T) {
	c, clock := newTestReplayCache(1 << 20)
	for i := range 5000 {
		c.CheckAndAdd(replayKeyN(i), clock.t.Add(time.Second))
		clock.t = clock.t.Add(10 * time.Millisecond)
	}
	// Every entry lives one second: at 100 adds a second, about 100 are live.
	if n := len(c.seen); n > 200 {
		t.Fatalf("cache holds %d keys that mostly expired long ago", n)
	}
	if n := len(c.queue); n > 5000/2+1024 {
		t.Fatalf("queue of %d entries was never compacted", n)
	}
}

func TestMemoryStore(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	st := State{ID: ID{1, 2, 3}, Created: time.Unix(1_800_000_000, 0), Endpoint: testEndpoint}
	if _, err := s.Get(ctx, st.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an absent ID: %v, want ErrNotFound", err)
	}
	if err := s.Put(ctx, st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, st.ID)
	if err != nil || got != st {
		t.Fatalf("Get after Put = %+v, %v; want %+v", got, err, st)
	}
	if err := s.Delete(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, st.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(cancelled, st); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v, want context.Canceled", err)
	}
}
