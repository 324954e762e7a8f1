// Package replay remembers keys until they expire: the replay filters of the session
// hello and of quicobfs's first datagrams. A Filter lives in memory, bounded, and with
// a journal file it also remembers, after a restart, the keys its last run added.
package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultMax is a Filter's bound when its Config says 0. The session hello's keys live
// at most twice its freshness window (four minutes), so this covers about 1 000 hellos a
// second; an entry costs about 100 bytes.
const DefaultMax = 1 << 18

// ErrClosed is returned by CheckAndAdd after Close.
var ErrClosed = errors.New("replay: filter closed")

// Config sets a Filter up.
type Config struct {
	// Max bounds the keys held; 0 means DefaultMax. When full, the filter forgets its
	// oldest key: its users add only keys that proved a secret, so only a holder of
	// the secret can fill it.
	Max int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Filter remembers keys until their expiry. It is safe for concurrent use.
type Filter struct {
	mu   sync.Mutex
	max  int
	now  func() time.Time
	seen map[[32]byte]int64 // key → expiry, Unix nanoseconds
	// queue holds the keys in insertion order from index head on; entries leave at
	// the head when they expire or when the filter is full.
	queue  []entry
	head   int
	j      *journal // nil: memory only
	closed bool
}

type entry struct {
	key    [32]byte
	expiry int64 // Unix nanoseconds
}

// New returns a Filter that lives in memory only: a restart forgets every key.
func New(cfg Config) *Filter {
	f := &Filter{max: cfg.Max, now: cfg.Now, seen: make(map[[32]byte]int64)}
	if f.max <= 0 {
		f.max = DefaultMax
	}
	if f.now == nil {
		f.now = time.Now
	}
	return f
}

// CheckAndAdd records key until expiry and reports whether it was already there,
// unexpired. Of concurrent calls with one key, at most one reports it unseen. With a
// journal, the key is written to it before CheckAndAdd returns; an error means that
// failed (or ctx had ended, or the filter was closed), and the key must be treated as
// one that could not be checked.
func (f *Filter) CheckAndAdd(ctx context.Context, key [32]byte, expiry time.Time) (seen bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("replay: check: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false, ErrClosed
	}
	now := f.now().UnixNano()
	if exp, ok := f.seen[key]; ok && now < exp {
		return true, nil
	}
	e := entry{key, expiry.UnixNano()}
	f.add(e, now)
	if f.j != nil {
		if err := f.j.append(e, len(f.seen), f.live); err != nil {
			return false, err
		}
	}
	return false, nil
}

// add puts e in memory, first dropping what expired and, when full, the oldest.
func (f *Filter) add(e entry, now int64) {
	// Entries expire roughly in insertion order (an expiry is a timestamp close to the
	// arrival plus a constant), so the head is where the expired ones are.
	for f.head < len(f.queue) && f.queue[f.head].expiry <= now {
		f.dropHead()
	}
	for len(f.seen) >= f.max && f.head < len(f.queue) {
		f.dropHead()
	}
	f.seen[e.key] = e.expiry
	f.queue = append(f.queue, e)
}

func (f *Filter) dropHead() {
	e := f.queue[f.head]
	if exp, ok := f.seen[e.key]; ok && exp == e.expiry {
		delete(f.seen, e.key)
	}
	f.head++
	// Reclaim the consumed front once it is half the slice, so that the queue's
	// length follows the live entries, not every entry ever added.
	if f.head >= 1024 && f.head*2 >= len(f.queue) {
		f.queue = append(f.queue[:0], f.queue[f.head:]...)
		f.head = 0
	}
}

// live returns the unexpired entries in insertion order, for a journal to rewrite
// itself with. The caller holds f.mu.
func (f *Filter) live() []entry {
	now := f.now().UnixNano()
	out := make([]entry, 0, len(f.seen))
	for _, e := range f.queue[f.head:] {
		if exp, ok := f.seen[e.key]; ok && exp == e.expiry && e.expiry > now {
			out = append(out, e)
		}
	}
	return out
}

// Each calls fn with every unexpired key and its expiry, oldest first: what a fleet
// writes back into a shared store that lost its keys. fn runs after the filter's
// lock is released, so it may take its time.
func (f *Filter) Each(fn func(key [32]byte, expiry time.Time)) {
	f.mu.Lock()
	live := f.live()
	f.mu.Unlock()
	for _, e := range live {
		fn(e.key, time.Unix(0, e.expiry))
	}
}

// Len reports how many keys the filter holds, expired ones not yet dropped included.
func (f *Filter) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

// Close writes the journal out, if there is one, and releases it; CheckAndAdd fails
// from then on.
func (f *Filter) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.j == nil {
		return nil
	}
	return f.j.close()
}
