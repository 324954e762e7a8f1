package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// handshakesPerCoreTarget: session handshakes one gateway core should complete per
// second, issue 17's target.
const handshakesPerCoreTarget = 5000

// measureHandshakeRate hammers a child gateway's tcp listener with concurrent
// handshakes (each session closed at once) and divides the successes by the gateway's
// own CPU time, so the bench's client-side work does not count against the gateway.
func measureHandshakeRate(ctx context.Context, b *bench) ([]row, error) {
	p, o := b.progress, b.opts
	return b.withChild(ctx, 0, func(g *childGateway) ([]row, error) {
		h, err := newHandshaker(b.registry, g.bridge)
		if err != nil {
			return nil, err
		}
		cpu0, alloc0, err := cpuAndAlloc(ctx, g)
		if err != nil {
			return nil, err
		}
		ok, failed, took := hammer(ctx, p, h, o.concurrency, o.rateFor)
		cpu1, alloc1, err := cpuAndAlloc(ctx, g)
		if err != nil {
			return nil, err
		}
		if ok == 0 {
			return nil, fmt.Errorf("no handshake succeeded (%d failed)", failed)
		}
		cpu := cpu1 - cpu0
		perCore := float64(ok) / cpu.Seconds()
		p.say("  %d handshakes (%d failed) in %s; gateway CPU %s", ok, failed, took.Round(time.Millisecond), cpu)
		how := fmt.Sprintf("%d concurrent for %s; %d ok, %d failed; gateway CPU %.2f s, allocates %s per handshake",
			o.concurrency, o.rateFor, ok, failed, cpu.Seconds(), kib((alloc1-alloc0)/float64(ok+failed)))
		return []row{
			{measure: "Gateway handshakes per second (wall clock)", path: "tcp, child gateway",
				result: fmt.Sprintf("%.0f /s", float64(ok)/took.Seconds()),
				how:    how + "; client shares the cores"},
			{measure: "Gateway handshakes per CPU core-second", path: "tcp, child gateway",
				result: fmt.Sprintf("%.0f /core·s", perCore),
				target: fmt.Sprintf("≥ %d /core·s", handshakesPerCoreTarget),
				met:    targetMet(perCore >= handshakesPerCoreTarget), how: how},
		}, nil
	})
}

// cpuAndAlloc reads the child's CPU time so far and the bytes it has allocated so far.
func cpuAndAlloc(ctx context.Context, g *childGateway) (time.Duration, float64, error) {
	m, err := g.scrape(ctx)
	if err != nil {
		return 0, 0, err
	}
	cpu, err := g.cpuTime()
	return cpu, m["go_memstats_alloc_bytes_total"], err
}

// hammer runs workers that each open and close sessions through h until d has passed.
func hammer(ctx context.Context, p *progress, h *handshaker, workers int, d time.Duration) (ok, failed int64, took time.Duration) {
	var nOK, nFailed atomic.Int64
	t0 := time.Now()
	end := t0.Add(d)
	stopTicks := tickEverySecond(ctx, func() { p.say("  handshakes: %d ok, %d failed", nOK.Load(), nFailed.Load()) })
	defer stopTicks()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			// Handshakes started before the end run to completion: cutting one short
			// would count work the gateway did as a failure.
			for ctx.Err() == nil && time.Now().Before(end) {
				hctx, hcancel := context.WithTimeout(ctx, 20*time.Second)
				sess, err := h.open(hctx)
				hcancel()
				if err != nil {
					nFailed.Add(1)
					continue
				}
				sess.Close()
				nOK.Add(1)
			}
		})
	}
	wg.Wait()
	return nOK.Load(), nFailed.Load(), time.Since(t0)
}

// tickEverySecond calls f every second until ctx is done or the returned stop is called.
func tickEverySecond(ctx context.Context, f func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f()
			}
		}
	}()
	return func() { cancel(); <-done }
}
