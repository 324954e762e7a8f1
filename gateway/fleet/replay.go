package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/umbrella-edge/edge/session"
)

// localKeys is the gateway's own replay cache when it can list what it holds (the
// in-memory filter and its journal can).
type localKeys interface {
	Each(func(key [32]byte, expiry time.Time))
}

// ReplayCache returns the fleet's replay cache in front of local, the gateway's own:
// a hello is answered only if neither has seen it. Local is asked first: it costs no
// round trip, and it still knows this edge's hellos when Redis has lost them.
//
// Redis keeps the contract of docs/protocol.md ("Replay cache") for the fleet:
// SET key 1 NX PXAT expiry, whose OK is the one answer. When Redis does not answer
// within Config.Wait (or is known to be down and does not come back within it), the
// result is an error, and the gateway answers the hello as it answers garbage.
func (f *Fleet) ReplayCache(local session.ReplayCache) session.ReplayCache {
	if l, ok := local.(localKeys); ok {
		f.mu.Lock()
		f.local = l
		f.mu.Unlock()
	}
	return &replayCache{f: f, local: local}
}

type replayCache struct {
	f     *Fleet
	local session.ReplayCache
}

func (c *replayCache) CheckAndAdd(ctx context.Context, key [32]byte, expiry time.Time) (bool, error) {
	if seen, err := c.local.CheckAndAdd(ctx, key, expiry); seen || err != nil {
		return seen, err
	}
	f := c.f
	began := time.Now()
	defer func() { f.metrics.replayWait.Observe(time.Since(began).Seconds()) }()
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Wait)
	defer cancel()
	if err := f.health.awaitUp(ctx); err != nil {
		f.metrics.replayChecks.WithLabelValues("unchecked").Inc()
		return false, fmt.Errorf("fleet: replay check: Redis unreachable: %w", err)
	}
	if err := f.settled(ctx); err != nil {
		f.metrics.replayChecks.WithLabelValues("unchecked").Inc()
		return false, fmt.Errorf("fleet: replay check: %w", err)
	}
	err := f.do(f.rdb.SetArgs(ctx, f.keys.replay(key), 1, redis.SetArgs{Mode: "NX", ExpireAt: expiry}).Err())
	switch {
	case err == redis.Nil:
		f.metrics.replayChecks.WithLabelValues("seen").Inc()
		return true, nil
	case err != nil:
		f.metrics.replayChecks.WithLabelValues("unchecked").Inc()
		return false, fmt.Errorf("fleet: replay check: %w", err)
	}
	f.metrics.replayChecks.WithLabelValues("new").Inc()
	return false, nil
}

// reseed writes the keys the local cache holds back into Redis, NX: a Redis that
// restarted empty would otherwise let another edge answer a hello this one answered
// before the outage, for as long as that hello is fresh.
func (f *Fleet) reseed(ctx context.Context) error {
	f.mu.Lock()
	local := f.local
	f.mu.Unlock()
	if local == nil {
		return nil
	}
	pipe := f.rdb.Pipeline()
	n := 0
	local.Each(func(key [32]byte, expiry time.Time) {
		pipe.SetArgs(ctx, f.keys.replay(key), 1, redis.SetArgs{Mode: "NX", ExpireAt: expiry})
		n++
	})
	if n == 0 {
		return nil
	}
	if err := execAll(ctx, pipe); err != nil {
		return err
	}
	f.log.Info("fleet: replay keys written back to Redis", "keys", n)
	return nil
}

// execAll runs a pipeline and returns its first error other than redis.Nil (a NX
// that did not set, which is not a failure).
func execAll(ctx context.Context, pipe redis.Pipeliner) error {
	cmds, err := pipe.Exec(ctx)
	for _, c := range cmds {
		if e := c.Err(); e != nil && e != redis.Nil {
			return e
		}
	}
	if err != nil && err != redis.Nil {
		return err
	}
	return nil
}
