package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/umbrella-edge/edge/gateway/fleet"
	"github.com/umbrella-edge/edge/session"
)

// measureRevocation revokes a secret at edge a, again and again, and times until edge
// b refuses it: Redis's pub/sub, then b's copy.
func measureRevocation(ctx context.Context, b *bench, w *fleetWorld) ([]row, error) {
	a, other := w.edges[0].fleet, w.edges[1].fleet
	count := b.progress.counter("revocations", fleetRevocations)
	var took latencies
	for i := range fleetRevocations {
		var s session.Secret
		rand.Read(s[:])
		changed := other.Changed()
		t0 := time.Now()
		if err := a.RevokeSecrets(ctx, s); err != nil {
			return nil, err
		}
		deadline := time.After(fleetGuard)
		for len(other.Allowed([]session.Secret{s})) != 0 {
			select {
			case <-changed:
				changed = other.Changed()
			case <-deadline:
				return nil, errNotApplied
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		took = append(took, time.Since(t0))
		count.tick(i + 1)
	}
	b.progress.say("  a revocation reaches the other edge in %s", took.p50p99())
	return []row{{measure: "Revocation reaches another edge", path: "fleet", result: took.p50p99(),
		target: "< " + revocationTarget.String(), met: targetMet(took.percentile(99) < revocationTarget),
		how: fmt.Sprintf("%d secrets revoked at one edge, until the other refuses each (pub/sub)", fleetRevocations)}}, nil
}

// measureRedisMemory counts what Redis holds per session (a directory entry) and per
// hello (a replay key), from its own used_memory, over fleetEntries of each.
func measureRedisMemory(ctx context.Context, b *bench, w *fleetWorld) ([]row, error) {
	e := w.edges[0]
	dir, cache := e.fleet.Directory(), e.fleet.ReplayCache(session.NewReplayCache(0))
	ids := make([]session.ID, fleetEntries)
	perEntry := func(what string, add func(i int) error) (int64, error) {
		before, err := w.redis.UsedMemory(ctx)
		if err != nil {
			return 0, err
		}
		count := b.progress.counter(what, fleetEntries)
		for i := range fleetEntries {
			if err := add(i); err != nil {
				return 0, fmt.Errorf("%s %d: %w", what, i, err)
			}
			count.tick(i + 1)
		}
		after, err := w.redis.UsedMemory(ctx)
		return (after - before) / fleetEntries, err
	}
	session, err := perEntry("directory entries", func(i int) error {
		rand.Read(ids[i][:])
		return dir.Put(ctx, sessionState(ids[i], e.bridge.Endpoint()))
	})
	if err != nil {
		return nil, err
	}
	hello, err := perEntry("replay keys", func(int) error {
		var k [32]byte
		rand.Read(k[:])
		_, err := cache.CheckAndAdd(ctx, k, time.Now().Add(4*time.Minute))
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		dir.Delete(ctx, id)
	}
	b.progress.say("  Redis holds %d bytes per session, %d per hello", session, hello)
	how := fmt.Sprintf("Redis 7's used_memory over %d of each", fleetEntries)
	return []row{
		{measure: "Redis memory per session (directory entry)", path: "fleet", result: fmt.Sprintf("%d B", session), how: how},
		{measure: "Redis memory per hello (replay key, for 241 s)", path: "fleet", result: fmt.Sprintf("%d B", hello), how: how},
	}, nil
}

func sessionState(id session.ID, ep session.Endpoint) session.State {
	return session.State{ID: id, Created: time.Now(), Endpoint: ep}
}

// measureRedisOutage times what an outage costs an edge: how soon it notices, how long
// a hello waits before it is refused, and how soon hellos are checked again once
// Redis is back, with its data (a frozen process, as a partition looks) and without
// (killed and restarted empty: the edges write back what it lost, and settle).
func measureRedisOutage(ctx context.Context, b *bench, w *fleetWorld) ([]row, error) {
	f := w.edges[0].fleet
	cache := f.ReplayCache(session.NewReplayCache(0))
	var rows []row
	for _, o := range []struct {
		name       string
		stop, back func(context.Context) error
	}{
		{"frozen (SIGSTOP), then thawed with its data", func(context.Context) error { w.redis.Freeze(); return nil },
			func(context.Context) error { w.redis.Thaw(); return nil }},
		{"killed, then restarted empty", func(context.Context) error { w.redis.Kill(); return nil }, w.redis.Start},
	} {
		stopped := time.Now()
		if err := o.stop(ctx); err != nil {
			return rows, err
		}
		if err := awaitDown(ctx, f); err != nil {
			return rows, fmt.Errorf("with Redis %s: %w", o.name, err)
		}
		noticed := time.Since(stopped)
		asked := time.Now()
		var k [32]byte
		rand.Read(k[:])
		if _, err := cache.CheckAndAdd(ctx, k, time.Now().Add(time.Minute)); err == nil {
			return rows, fmt.Errorf("with Redis %s: a hello was checked while it was away", o.name)
		}
		refused := time.Since(asked)
		started := time.Now()
		if err := o.back(ctx); err != nil {
			return rows, err
		}
		wctx, cancel := context.WithTimeout(ctx, fleetGuard)
		err := f.AwaitUp(wctx)
		cancel()
		if err != nil {
			return rows, fmt.Errorf("with Redis %s: the edge did not come back: %w", o.name, err)
		}
		back := time.Since(started)
		b.progress.say("  Redis %s: noticed in %v, a hello refused after %v, hellos checked again %v after it was back",
			o.name, noticed.Round(time.Millisecond), refused.Round(time.Millisecond), back.Round(time.Millisecond))
		rows = append(rows, row{measure: "Redis " + o.name, path: "fleet",
			result: fmt.Sprintf("noticed in %v; a hello refused after %v; hellos checked again %v after Redis was back",
				noticed.Round(time.Millisecond), refused.Round(time.Millisecond), back.Round(time.Millisecond)),
			how: fmt.Sprintf("one edge; heartbeat %v, wait %v; established sessions are not touched", time.Second, fleet.DefaultWait)})
	}
	return rows, nil
}

// awaitDown waits until f says Redis is unreachable.
func awaitDown(ctx context.Context, f *fleet.Fleet) error {
	deadline := time.After(fleetGuard)
	for f.Up() {
		select {
		case <-f.Changed():
		case <-deadline:
			return errors.New("the edge never noticed")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
