package session

import (
	"sync"
	"time"
)

// DefaultReplayEntries is the replay cache's bound when NewReplayCache is given 0. An
// entry lives at most twice the freshness window (four minutes), so this covers
// about 1 000 handshakes a second; an entry costs about 100 bytes.
const DefaultReplayEntries = 1 << 18

// NewReplayCache returns an in-memory ReplayCache holding at most max entries
// (0 means DefaultReplayEntries).
//
// When full, it forgets its oldest entry. Only a peer holding a bridge secret can
// fill it, since the gateway adds authentic hellos only, and such a peer gains
// nothing from a replay that a fresh hello would not give it; a censor without the
// secret cannot evict the hello it wants to replay.
func NewReplayCache(max int) ReplayCache {
	if max <= 0 {
		max = DefaultReplayEntries
	}
	return &memoryReplayCache{max: max, seen: make(map[[32]byte]int64), now: time.Now}
}

type memoryReplayCache struct {
	mu   sync.Mutex
	max  int
	seen map[[32]byte]int64 // key → expiry, Unix nanoseconds
	// queue holds the keys in insertion order from index head on; entries leave at
	// the head when they expire or when the cache is full.
	queue []replayEntry
	head  int
	now   func() time.Time
}

type replayEntry struct {
	key    [32]byte
	expiry int64
}

func (c *memoryReplayCache) CheckAndAdd(key [32]byte, expiry time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().UnixNano()
	if exp, ok := c.seen[key]; ok && now < exp {
		return true
	}
	// Entries expire roughly in insertion order (a hello's expiry is its timestamp
	// plus a constant, and timestamps are close to arrival), so the head is where
	// the expired ones are.
	for c.head < len(c.queue) && c.queue[c.head].expiry <= now {
		c.dropHead()
	}
	for len(c.seen) >= c.max && c.head < len(c.queue) {
		c.dropHead()
	}
	c.seen[key] = expiry.UnixNano()
	c.queue = append(c.queue, replayEntry{key, expiry.UnixNano()})
	return false
}

func (c *memoryReplayCache) dropHead() {
	e := c.queue[c.head]
	if exp, ok := c.seen[e.key]; ok && exp == e.expiry {
		delete(c.seen, e.key)
	}
	c.head++
	// Reclaim the consumed front once it is half the slice, so that the queue's
	// length follows the live entries, not every entry ever added.
	if c.head >= 1024 && c.head*2 >= len(c.queue) {
		c.queue = append(c.queue[:0], c.queue[c.head:]...)
		c.head = 0
	}
}
