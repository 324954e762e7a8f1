package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// A Redis that restarts without its data (no persistence, a failover to an empty
// replica) forgets which hellos were answered and which edge holds which session. An
// edge tells by the fleet's epoch: a random token the first edge to find none writes.
// Every heartbeat reads it; a new one means Redis lost its data, and the edge writes
// back what it knew (recover). Until every edge has had the time to, it refuses what
// needs that data: hellos that need the shared replay check, and the answer that a
// session is gone (the client tries again instead of starting anew).
//
// settle covers an edge that notices at its next heartbeat (a second), finds Redis
// again (probeDown) and writes back a few hundred thousand keys in pipelines.
const settle = 3 * time.Second

var errLostData = errors.New("fleet: Redis lost its data (its epoch changed)")

type epoch struct {
	mu     sync.Mutex
	seen   string    // the epoch this edge last saw
	until  time.Time // what needs Redis's data is refused until then
	losses int       // epochs changed under this edge
}

func (k keys) epoch() string { return string(k) + "epoch" }

// joinEpoch reads the fleet's epoch, writing one if Redis has none, and starts the
// settling time if it is not the one this edge last saw.
func (f *Fleet) joinEpoch(ctx context.Context) error {
	token := make([]byte, 16)
	rand.Read(token)
	if err := f.rdb.SetNX(ctx, f.keys.epoch(), hex.EncodeToString(token), 0).Err(); err != nil {
		return err
	}
	cur, err := f.rdb.Get(ctx, f.keys.epoch()).Result()
	if err != nil {
		return err
	}
	e := &f.epoch
	e.mu.Lock()
	lost := e.seen != "" && e.seen != cur
	e.seen = cur
	if lost {
		e.until = time.Now().Add(settle)
		e.losses++
	}
	e.mu.Unlock()
	if lost {
		f.metrics.dataLosses.Inc()
		f.log.Warn("fleet: Redis restarted without its data: writing back what this edge knew; new sessions and resumes wait until every edge has",
			"for", settle)
	}
	return nil
}

// sameEpoch reports whether cur is the epoch this edge last saw.
func (f *Fleet) sameEpoch(cur string) bool {
	f.epoch.mu.Lock()
	defer f.epoch.mu.Unlock()
	return cur == f.epoch.seen
}

// settled waits, within ctx, until no edge may still be writing back what Redis lost.
func (f *Fleet) settled(ctx context.Context) error {
	f.epoch.mu.Lock()
	wait := time.Until(f.epoch.until)
	f.epoch.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fleet: Redis restarted without its data, and the edges are still writing it back: %w", ctx.Err())
	}
}

// settling reports whether the edges may still be writing back what Redis lost.
func (f *Fleet) settling() bool {
	f.epoch.mu.Lock()
	defer f.epoch.mu.Unlock()
	return time.Now().Before(f.epoch.until)
}

// dataLosses is how many times this edge found Redis restarted without its data.
func (f *Fleet) dataLosses() int {
	f.epoch.mu.Lock()
	defer f.epoch.mu.Unlock()
	return f.epoch.losses
}
