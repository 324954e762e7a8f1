package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/session"
)

// idleSessionTarget: what one idle session may cost the gateway.
const idleSessionTarget = 32 << 10

// openers is how many sessions or streams the memory measurement opens at once.
const openers = 32

// memSample is the child gateway's memory at one moment.
type memSample struct {
	rss, heap, stack, goroutines float64
	gcSettled                    bool // a GC cycle completed after the work being measured
}

// measureMemory opens many idle sessions to a child gateway and reports what each costs
// it, first bare, then with one idle stream to the echo service each.
func measureMemory(ctx context.Context, b *bench) ([]row, error) {
	p, n := b.progress, b.opts.sessions
	return b.withChild(ctx, n+n/5+100, func(g *childGateway) ([]row, error) {
		h, err := newHandshaker(b.registry, g.bridge)
		if err != nil {
			return nil, err
		}
		base, err := settle(ctx, p, g)
		if err != nil {
			return nil, err
		}
		sessions, err := openSessions(ctx, p, h, n)
		defer closeAll(sessions)
		if err != nil {
			return nil, err
		}
		bare, err := settle(ctx, p, g)
		if err != nil {
			return nil, err
		}
		rows := memRows("idle session", base, bare, len(sessions))

		streams, err := openIdleStreams(ctx, p, sessions)
		defer closeAll(streams)
		if err != nil {
			return rows, err
		}
		withStream, err := settle(ctx, p, g)
		if err != nil {
			return rows, err
		}
		return append(rows, memRows("idle session with one idle echo stream", base, withStream, len(streams))...), nil
	})
}

func memRows(what string, before, after memSample, n int) []row {
	per := func(a, b float64) float64 { return (b - a) / float64(n) }
	rss := per(before.rss, after.rss)
	heap := per(before.heap+before.stack, after.heap+after.stack)
	how := fmt.Sprintf("%d sessions, delta over the idle gateway; %.1f goroutines each", n, per(before.goroutines, after.goroutines))
	if !after.gcSettled {
		how += "; no GC cycle seen after opening, so heap includes garbage"
	}
	target := fmt.Sprintf("≤ %d KiB", idleSessionTarget>>10)
	return []row{
		{measure: "Gateway memory per " + what + " (RSS)", path: "tcp, child gateway",
			result: kib(rss), target: target, met: targetMet(rss <= idleSessionTarget), how: how},
		{measure: "Gateway memory per " + what + " (Go heap + stacks)", path: "tcp, child gateway",
			result: kib(heap), target: target, met: targetMet(heap <= idleSessionTarget), how: how},
	}
}

func kib(bytes float64) string { return fmt.Sprintf("%.1f KiB", bytes/1024) }

// settle waits for the gateway's garbage collector to complete a cycle after the work
// just done (so the heap holds what the sessions keep, not the handshakes' garbage), or
// for a bounded time when the idle gateway does not collect, then samples its memory.
func settle(ctx context.Context, p *progress, g *childGateway) (memSample, error) {
	const limit = 15 * time.Second
	m, err := g.scrape(ctx)
	if err != nil {
		return memSample{}, err
	}
	gc0 := m["go_gc_duration_seconds_count"]
	deadline := time.Now().Add(limit)
	for m["go_gc_duration_seconds_count"] == gc0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return memSample{}, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if m, err = g.scrape(ctx); err != nil {
			return memSample{}, err
		}
	}
	rss, err := g.rss()
	if err != nil {
		return memSample{}, err
	}
	s := memSample{
		rss:        float64(rss),
		heap:       m["go_memstats_heap_inuse_bytes"],
		stack:      m["go_memstats_stack_inuse_bytes"],
		goroutines: m["go_goroutines"],
		gcSettled:  m["go_gc_duration_seconds_count"] > gc0,
	}
	p.say("  gateway: RSS %.1f MiB, heap in use %.1f MiB, stacks %.1f MiB, %.0f goroutines (GC settled: %v)",
		s.rss/(1<<20), s.heap/(1<<20), s.stack/(1<<20), s.goroutines, s.gcSettled)
	return s, nil
}

// openSessions opens n sessions through h, openers at a time, and returns those that
// opened; it fails if any did not.
func openSessions(ctx context.Context, p *progress, h *handshaker, n int) ([]io.Closer, error) {
	return openMany(ctx, p.counter("sessions", n), n, func(ctx context.Context, _ int) (io.Closer, error) {
		return h.open(ctx)
	})
}

// openIdleStreams opens one stream to the echo service on every session and echoes one
// byte on it, so the gateway has dialled the backend and both copy loops are running.
func openIdleStreams(ctx context.Context, p *progress, sessions []io.Closer) ([]io.Closer, error) {
	return openMany(ctx, p.counter("idle streams", len(sessions)), len(sessions), func(ctx context.Context, i int) (io.Closer, error) {
		conn, err := sessions[i].(*session.Session).OpenStream(ctx, serviceEcho)
		if err != nil {
			return nil, err
		}
		if err := echoByte(ctx, conn); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	})
}

func echoByte(ctx context.Context, conn net.Conn) error {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
		defer conn.SetDeadline(time.Time{})
	}
	if _, err := conn.Write([]byte{'.'}); err != nil {
		return err
	}
	_, err := io.ReadFull(conn, make([]byte, 1))
	return err
}

// openMany calls open for 0..n-1, openers at a time, each with a generous timeout that
// only keeps a stuck open from hanging the run. It returns what opened, and the first
// error if anything failed.
func openMany(ctx context.Context, c *counter, n int, open func(context.Context, int) (io.Closer, error)) ([]io.Closer, error) {
	var (
		mu     sync.Mutex
		opened = make([]io.Closer, 0, n)
		errs   []error
		next   atomic.Int64
		wg     sync.WaitGroup
	)
	for range openers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				octx, cancel := context.WithTimeout(ctx, 30*time.Second)
				cl, err := open(octx, i)
				cancel()
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("open %d of %d: %w", i+1, n, err))
				} else {
					opened = append(opened, cl)
				}
				c.tick(len(opened))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return opened, fmt.Errorf("%d of %d failed, first: %w", len(errs), n, errors.Join(errs[0], ctx.Err()))
	}
	return opened, ctx.Err()
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}
