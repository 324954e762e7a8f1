package client

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/session"
)

// outcome is one attempt's result.
type outcome struct {
	idx     int
	offset  time.Duration    // the clock offset its hello carried
	sess    *session.Session // a new session; nil when the waiting one resumed
	meter   *failure.Meter   // the carrier, when it won
	resumed bool
	took    time.Duration
	err     error // a *failure.Error, or the round's context's error
}

// discard closes what a losing attempt opened.
func (o outcome) discard() {
	if o.sess != nil {
		o.sess.Close()
	}
}

// round is one round of attempts: its plan, the queue of resumes, and the smallest
// round trip a connect has shown on the network so far.
type round struct {
	plan
	turns *turns
	rtt   atomic.Int64 // nanoseconds plus one; zero while unknown
}

func newRound(p plan) *round {
	r := &round{plan: p, turns: newTurns(resumePatience(p.headStart))}
	if p.rttKnown {
		r.rtt.Store(int64(p.rtt) + 1)
	}
	return r
}

func (r *round) knownRTT() (time.Duration, bool) {
	v := r.rtt.Load()
	return time.Duration(v - 1), v > 0
}

func (r *round) sawRTT(rtt time.Duration) {
	for {
		v := r.rtt.Load()
		if v > 0 && v-1 <= int64(rtt) || r.rtt.CompareAndSwap(v, int64(rtt)+1) {
			return
		}
	}
}

// race runs one round of attempts in p's order, staggered: the first bridge starts at
// once, the next when the one before has had its head start without completing a
// session handshake, or at once when one fails; at most Config.Parallel at a time. The
// first completed session handshake wins; the others are cancelled and what they
// opened is closed. A waiting session (cur.sess != nil) resumes on a bridge to its
// gateway; bridges to other gateways give a new session.
//
// It returns the winner and every failure seen, or a *ConnectError when all failed,
// session.ErrResumeRejected when the gateway no longer has the waiting session, or ctx's error.
func (c *Client) race(ctx context.Context, p plan, cur current) (outcome, []*BridgeError, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := newRound(p)
	queue := make([]queued, len(p.order))
	for k, i := range p.order {
		queue[k] = queued{idx: i, offset: c.clock.off()}
	}
	results := make(chan outcome, len(queue)+len(p.order))
	var failures []*BridgeError
	next, running := 0, 0
	retried := map[int]bool{} // bridges tried again with a corrected clock
	timer := time.NewTimer(p.headStart)
	defer timer.Stop()
	start := func() {
		q := queue[next]
		next++
		running++
		c.emit(Event{Kind: EventAttempt, Bridge: q.idx, Name: c.cfg.Bridges[q.idx].Transport})
		c.wg.Go(func() { results <- c.attempt(ctx, q, cur, r) })
		timer.Reset(p.headStart)
	}
	// finish cancels the attempts still running and closes whatever they complete.
	finish := func() {
		cancel()
		n := running
		c.wg.Go(func() {
			for range n {
				(<-results).discard()
			}
		})
	}
	start()
	for running > 0 {
		select {
		case o := <-results:
			running--
			switch {
			case o.err == nil:
				finish()
				return o, failures, nil
			case errors.Is(o.err, session.ErrResumeRejected):
				finish()
				return outcome{}, failures, o.err
			case ctx.Err() != nil:
				continue
			}
			f := &BridgeError{Bridge: o.idx, Transport: c.cfg.Bridges[o.idx].Transport, Err: o.err}
			failures = append(failures, f)
			c.emit(Event{Kind: EventFailed, Bridge: f.Bridge, Name: f.Transport, Err: f})
			if q, ok := c.clockRetry(o, retried); ok {
				queue = slices.Insert(queue, next, q)
			}
			if next < len(queue) && running < c.cfg.Parallel {
				start()
			}
		case <-timer.C:
			if next < len(queue) && running < c.cfg.Parallel {
				start()
			}
		case <-ctx.Done():
			finish()
			return outcome{}, failures, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return outcome{}, failures, err
	}
	return outcome{}, failures, &ConnectError{Failures: lastPerBridge(failures)}
}

// queued is an attempt to start: a bridge, and the clock offset its hello carries.
type queued struct {
	idx    int
	offset time.Duration
}

// clockRetry returns the attempt to make again when o failed because the device's
// clock is off by more than a gateway accepts: the same bridge, at once, with the
// clock its server's Date gave. Each bridge is tried again once a round.
func (c *Client) clockRetry(o outcome, retried map[int]bool) (queued, bool) {
	var fe *failure.Error
	if !errors.As(o.err, &fe) || fe.Cause != failure.ClockOff || retried[o.idx] {
		return queued{}, false
	}
	retried[o.idx] = true
	c.log.Info("the device's clock looks off; trying the bridge again with its server's time",
		"bridge", o.idx, "transport", c.transportOf(o.idx), "off", failure.SkewText(fe.Skew))
	return queued{idx: o.idx, offset: o.offset + fe.Skew}, true
}

// lastPerBridge returns each bridge's last failure, by bridge index.
func lastPerBridge(failures []*BridgeError) []*BridgeError {
	last := map[int]*BridgeError{}
	for _, f := range failures {
		last[f.Bridge] = f
	}
	out := make([]*BridgeError, 0, len(last))
	for _, f := range last {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *BridgeError) int { return a.Bridge - b.Bridge })
	return out
}
