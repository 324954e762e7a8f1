package replay

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func keyN(n int) (k [32]byte) {
	binary.BigEndian.PutUint64(k[:], uint64(n))
	return k
}

// clock is a settable clock for filters under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// mustCheck is CheckAndAdd that fails the test on an error.
func mustCheck(t testing.TB, f *Filter, key [32]byte, expiry time.Time) bool {
	t.Helper()
	seen, err := f.CheckAndAdd(context.Background(), key, expiry)
	if err != nil {
		t.Fatalf("CheckAndAdd: %v", err)
	}
	return seen
}

func TestFilterRemembersUntilExpiry(t *testing.T) {
	c := newClock()
	f := New(Config{Max: 10, Now: c.now})
	expiry := c.now().Add(time.Minute)
	if mustCheck(t, f, keyN(1), expiry) {
		t.Fatal("a new key was reported as seen")
	}
	if !mustCheck(t, f, keyN(1), expiry) {
		t.Fatal("a key added a moment ago was not reported as seen")
	}
	if mustCheck(t, f, keyN(2), expiry) {
		t.Fatal("a different key was reported as seen")
	}
	c.advance(time.Minute)
	if mustCheck(t, f, keyN(1), expiry.Add(time.Minute)) {
		t.Fatal("a key past its expiry was still reported as seen")
	}
	if !mustCheck(t, f, keyN(1), expiry.Add(time.Minute)) {
		t.Fatal("a key re-added after expiry was not remembered")
	}
}

func TestFilterStaysBounded(t *testing.T) {
	const max = 100
	c := newClock()
	f := New(Config{Max: max, Now: c.now})
	expiry := c.now().Add(time.Hour)
	for i := range 10 * max {
		mustCheck(t, f, keyN(i), expiry)
		if n := f.Len(); n > max {
			t.Fatalf("after %d adds the filter holds %d keys, more than its bound %d", i+1, n, max)
		}
	}
	if n := len(f.queue) - f.head; n > max {
		t.Fatalf("queue holds %d live entries, bound %d", n, max)
	}
	if !mustCheck(t, f, keyN(10*max-1), expiry) {
		t.Fatal("the newest key was evicted; want the oldest to go")
	}
}

func TestFilterForgetsExpiredEntries(t *testing.T) {
	c := newClock()
	f := New(Config{Max: 1 << 20, Now: c.now})
	for i := range 5000 {
		mustCheck(t, f, keyN(i), c.now().Add(time.Second))
		c.advance(10 * time.Millisecond)
	}
	// Every entry lives one second: at 100 adds a second, about 100 are live.
	if n := f.Len(); n > 200 {
		t.Fatalf("filter holds %d keys that mostly expired long ago", n)
	}
	if n := len(f.queue); n > 5000/2+1024 {
		t.Fatalf("queue of %d entries was never compacted", n)
	}
}

func TestFilterAnswersOneOfConcurrentAddsUnseen(t *testing.T) {
	f := New(Config{})
	expiry := time.Now().Add(time.Minute)
	var unseen atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if seen, err := f.CheckAndAdd(context.Background(), keyN(7), expiry); err == nil && !seen {
				unseen.Add(1)
			}
		})
	}
	wg.Wait()
	if n := unseen.Load(); n != 1 {
		t.Fatalf("%d of 32 concurrent adds of one key were told it was new; want exactly 1", n)
	}
}

func TestFilterFailsWhenItCannotCheck(t *testing.T) {
	f := New(Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.CheckAndAdd(ctx, keyN(1), time.Now().Add(time.Minute)); !errors.Is(err, context.Canceled) {
		t.Fatalf("CheckAndAdd with an ended context: %v; want context.Canceled", err)
	}
	f.Close()
	if _, err := f.CheckAndAdd(context.Background(), keyN(1), time.Now().Add(time.Minute)); !errors.Is(err, ErrClosed) {
		t.Fatalf("CheckAndAdd after Close: %v; want ErrClosed", err)
	}
}
