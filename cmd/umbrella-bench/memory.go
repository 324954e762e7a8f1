package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
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
	gcSettled                    bool // two GC cycles completed after the work being measured
}

// measureMemory opens many idle sessions to a child gateway and reports what each costs
// it, first bare, then with one idle stream to the echo service each.
func measureMemory(ctx context.Context, b *bench) ([]row, error) {
	p := b.progress
	n, s, note := memoryBudget(b.opts.sessions, openFileLimit(), openFDs())
	if note != "" {
		p.say("  %s", note)
	}
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
		rows := memRows("idle session", perSession(base, bare, n), fmt.Sprintf("%d sessions", n), bare.gcSettled)

		streams, err := openIdleStreams(ctx, p, sessions[:s])
		defer closeAll(streams)
		if err != nil {
			return rows, err
		}
		withStreams, err := settle(ctx, p, g)
		if err != nil {
			return rows, err
		}
		// Streams may sit on fewer sessions than were opened; add one stream's cost
		// to one session's.
		cost := perSession(base, bare, n).plus(perSession(bare, withStreams, s))
		how := fmt.Sprintf("%d sessions, %d of them with a stream", n, s)
		if note != "" {
			how += " (" + note + ")"
		}
		return append(rows, memRows("idle session with one idle echo stream", cost, how, withStreams.gcSettled)...), nil
	})
}

// memoryBudget chooses how many sessions, and streams on them, fit under the open-file
// limit beside the open descriptors the bench holds already (the in-process gateway's
// listeners and what earlier steps left lingering): each session costs a descriptor in
// the bench and in the gateway, and each stream one more in both (the gateway's backend
// connection and the echo's end of it).
func memoryBudget(want int, limit uint64, open int) (sessions, streams int, note string) {
	const reserve = 256 // the admin scrape, the runtime's own, descriptors opened meanwhile
	budget := int(min(limit, 1<<30)) - open - reserve
	sessions = min(want, budget)
	streams = min(sessions, budget-sessions)
	if sessions < want || streams < sessions {
		note = fmt.Sprintf("RLIMIT_NOFILE %d allows %d sessions and %d streams", limit, sessions, streams)
	}
	return sessions, max(streams, 0), note
}

// openFDs counts the bench's open descriptors; when it cannot, it guesses high.
func openFDs() int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 1024
	}
	return len(fds)
}

func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	return lim.Cur
}

// perSession is the growth from before to after divided among n sessions.
func perSession(before, after memSample, n int) memSample {
	per := func(a, b float64) float64 { return (b - a) / float64(n) }
	return memSample{
		rss:        per(before.rss, after.rss),
		heap:       per(before.heap, after.heap),
		stack:      per(before.stack, after.stack),
		goroutines: per(before.goroutines, after.goroutines),
	}
}

func (m memSample) plus(o memSample) memSample {
	return memSample{rss: m.rss + o.rss, heap: m.heap + o.heap, stack: m.stack + o.stack, goroutines: m.goroutines + o.goroutines}
}

func memRows(what string, per memSample, how string, settled bool) []row {
	how = fmt.Sprintf("%s, delta over the idle gateway after two GCs; heap %s + stacks %s, %.1f goroutines each",
		how, kib(per.heap), kib(per.stack), per.goroutines)
	if !settled {
		how += "; **not two GC cycles completed**, so the heap includes garbage"
	}
	target := fmt.Sprintf("≤ %d KiB", idleSessionTarget>>10)
	heapStack := per.heap + per.stack
	return []row{
		{measure: "Gateway memory per " + what + " (RSS)", path: "tcp, child gateway",
			result: kib(per.rss), target: target, met: targetMet(per.rss <= idleSessionTarget), how: how},
		{measure: "Gateway memory per " + what + " (Go heap + stacks)", path: "tcp, child gateway",
			result: kib(heapStack), target: target, met: targetMet(heapStack <= idleSessionTarget), how: how},
	}
}

func kib(bytes float64) string { return fmt.Sprintf("%.1f KiB", bytes/1024) }

// settle waits for the gateway's garbage collector to complete two cycles after the
// work just done, so that its heap holds what the sessions keep and not the
// handshakes' garbage, then samples its memory. The second cycle empties what the
// first left in sync.Pool's victim caches (pooled buffers the sessions no longer
// hold), as an idle gateway's forced collections, every 2 minutes, would. An idle
// gateway may not collect for minutes, and nothing outside it can call runtime.GC, so
// settle scrapes /metrics back to back: each scrape allocates (about 145 KiB by
// go_memstats_alloc_bytes_total, go1.26) and changes no session state, so the heap
// soon reaches its goal and the runtime collects.
func settle(ctx context.Context, p *progress, g *childGateway) (memSample, error) {
	const limit = time.Minute
	m, err := g.scrape(ctx)
	if err != nil {
		return memSample{}, err
	}
	gc0 := m["go_gc_duration_seconds_count"]
	deadline := time.Now().Add(limit)
	scrapes := 0
	for m["go_gc_duration_seconds_count"] < gc0+2 && time.Now().Before(deadline) {
		if m, err = g.scrape(ctx); err != nil {
			return memSample{}, err
		}
		scrapes++
	}
	// Spans freed by the cycle count as in use until swept, which the runtime does in
	// the background after the cycle: wait until the heap stops shrinking.
	for range 20 {
		select {
		case <-ctx.Done():
			return memSample{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		prev := m["go_memstats_heap_inuse_bytes"]
		if m, err = g.scrape(ctx); err != nil {
			return memSample{}, err
		}
		if m["go_memstats_heap_inuse_bytes"] >= 0.995*prev {
			break
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
		gcSettled:  m["go_gc_duration_seconds_count"] >= gc0+2,
	}
	p.say("  gateway: RSS %.1f MiB, heap in use %.1f MiB, stacks %.1f MiB, %.0f goroutines (GC after %d scrapes: %v)",
		s.rss/(1<<20), s.heap/(1<<20), s.stack/(1<<20), s.goroutines, scrapes, s.gcSettled)
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
// only keeps a stuck open from hanging the run. It stops at the first failure, and
// returns what opened with that failure.
func openMany(ctx context.Context, c *counter, n int, open func(context.Context, int) (io.Closer, error)) ([]io.Closer, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu     sync.Mutex
		opened = make([]io.Closer, 0, n)
		next   atomic.Int64
		wg     sync.WaitGroup
	)
	for range openers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
				cl, err := open(octx, i)
				ocancel()
				if err != nil {
					cancel(fmt.Errorf("open %d of %d: %w", i+1, n, err))
					return
				}
				mu.Lock()
				opened = append(opened, cl)
				c.tick(len(opened))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return opened, err
	}
	return opened, nil
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}
