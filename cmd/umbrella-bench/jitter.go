package main

import (
	"context"
	"fmt"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/probes/censor"
)

// The jittery path of issue 11's no-false-moves target: 100 ms round trip, ±50 ms
// (each direction 50 ms ± 25 ms).
const (
	jitterDelay  = 50 * time.Millisecond
	jitterSpread = 25 * time.Millisecond
	jitterReport = 15 * time.Second // how often the run says how far it got
)

func measureJitter(ctx context.Context, b *bench) ([]row, error) {
	return falseMoves(ctx, b, b.opts.jitterFor)
}

// measureJitterLong is the opt-in long run (-steps jitter-long).
func measureJitterLong(ctx context.Context, b *bench) ([]row, error) {
	return falseMoves(ctx, b, b.opts.jitterLongFor)
}

// falseMoves runs the lab's world with every route delayed 50 ms ± 25 ms each way, and
// a client with every bridge line: half of d with an echo stream carrying a record
// every flowInterval (each checked to come back once, in order), half idle (the
// foreground preset's pings only). Every move of the session off its first carrier is
// a false one: nothing was cut.
func falseMoves(ctx context.Context, b *bench, d time.Duration) ([]row, error) {
	p, o := b.progress, b.opts
	w, err := startEchoWorld(ctx, lab.Options{NoCDN: true, AllowMissing: true, Transports: o.transports,
		Policies: []censor.Policy{&censor.Delay{Up: jitterDelay, Down: jitterDelay, Jitter: jitterSpread}}}, "bench jitter")
	if err != nil {
		return nil, err
	}
	defer w.close()
	c, f := w.client, w.flow
	first := c.Active()
	p.say("  client with %d bridge lines on %s; %v of steady flow, then %v idle", len(w.lab.Bridges()), first, d/2, d/2)
	if err := wait(ctx, p, "steady flow", d/2); err != nil {
		return nil, err
	}
	mark := time.Now()
	got, err := f.echoSentAfter(ctx, mark)
	if err != nil {
		return nil, fmt.Errorf("the flow after %v: %w", d/2, err)
	}
	rtt := got.Sub(mark) // a record's round trip, plus up to flowInterval before it went
	f.close()
	if err := wait(ctx, p, "idle", d/2); err != nil {
		return nil, err
	}
	moves, suspicions := 0, 0
	for _, e := range c.Events() {
		switch e.Kind {
		case client.EventLost, client.EventEnded:
			moves++
		case client.EventSuspected:
			suspicions++
		}
	}
	p.say("  %d moves, %d suspicions; on %s at the end", moves, suspicions, c.Active())
	return []row{{
		measure: fmt.Sprintf("False moves, 100 ms ± 50 ms round trip, %v steady flow then %v idle", d/2, d/2),
		path:    "client with every bridge line, through the censor",
		result:  fmt.Sprintf("%d moves", moves),
		target:  "0", met: targetMet(moves == 0),
		how: fmt.Sprintf("censor delay 50 ms ± 25 ms each way on every route (a record's echo took %s at the end of the flow); %d-byte records echoed every %s, none lost; %d suspicions (a spare raised, then closed); first carrier %s",
			ms(rtt), recordSize, flowInterval, suspicions, first),
	}}, nil
}

// wait lets d pass, saying how far it got every jitterReport.
func wait(ctx context.Context, p *progress, what string, d time.Duration) error {
	end := time.Now().Add(d)
	for left := d; left > 0; left = time.Until(end) {
		t := time.NewTimer(min(left, jitterReport))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		p.say("  %s: %v of %v", what, (d - time.Until(end)).Round(time.Second), d)
	}
	return nil
}
