package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// outcome is one attempt's result.
type outcome struct {
	idx     int
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
	results := make(chan outcome, len(p.order))
	var failures []*BridgeError
	next, running := 0, 0
	timer := time.NewTimer(p.headStart)
	defer timer.Stop()
	start := func() {
		i := p.order[next]
		next++
		running++
		c.emit(Event{Kind: EventAttempt, Bridge: i, Name: c.cfg.Bridges[i].Transport})
		c.wg.Go(func() { results <- c.attempt(ctx, i, cur, r) })
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
			if next < len(p.order) && running < c.cfg.Parallel {
				start()
			}
		case <-timer.C:
			if next < len(p.order) && running < c.cfg.Parallel {
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
	sorted := slices.Clone(failures)
	slices.SortFunc(sorted, func(a, b *BridgeError) int { return a.Bridge - b.Bridge })
	return outcome{}, failures, &ConnectError{Failures: sorted}
}

// attempt dials bridge i and completes a session handshake on the carrier: a resume of
// the waiting session when the bridge leads to its gateway, else a new session. The
// dial and a new session's handshake share one deadline (see dial); a resume's
// handshake gets its own once its turn comes (see turns). A failure is returned as a
// *failure.Error.
func (c *Client) attempt(ctx context.Context, i int, cur current, r *round) outcome {
	t, ferr := c.dial(ctx, i, r)
	if ferr != nil {
		return outcome{idx: i, err: ferr}
	}
	defer t.dl.stop()
	b := c.cfg.Bridges[i]
	cc := c.sessionConfig(b)
	if cur.sess != nil && bytes.Equal(cur.key, b.Key) {
		timeout := c.cfg.HandshakeTimeout
		if rtt, ok := r.knownRTT(); ok {
			timeout = min(timeout, handshakeBudget(rtt))
		}
		err := r.turns.resume(ctx, timeout, func(ctx context.Context) error {
			return cur.sess.Resume(ctx, t.meter, cc)
		})
		if err != nil {
			return outcome{idx: i, err: t.fail(failure.StepSession, fmt.Errorf("resume: %w", err))}
		}
		return outcome{idx: i, meter: t.meter, resumed: true, took: time.Since(t.began)}
	}
	sess, err := session.Client(t.dl.ctx, t.meter, cc)
	if err != nil {
		return outcome{idx: i, err: t.fail(failure.StepSession, t.dl.err(fmt.Errorf("session: %w", err)))}
	}
	return outcome{idx: i, sess: sess, meter: t.meter, took: time.Since(t.began)}
}

// sessionConfig is the session's side of bridge line b.
func (c *Client) sessionConfig(b config.Bridge) *session.ClientConfig {
	return &session.ClientConfig{GatewayKey: b.Key, Secret: b.Secret, Endpoint: b.Endpoint()}
}

// try is a carrier dialled for an attempt, and the deadline the attempt runs under.
type try struct {
	idx   int
	began time.Time
	dl    *deadline
	meter *failure.Meter
	obs   failure.Observation
}

// fail closes the carrier and classifies err, which stopped the attempt at step.
func (t *try) fail(step failure.Step, err error) *failure.Error {
	t.meter.Close()
	t.obs.Received, t.obs.Head = t.meter.Received(), t.meter.Head()
	t.obs.Step, t.obs.Err = step, err
	return failure.Classify(t.obs)
}

// dial opens a carrier to bridge i under an attempt's deadline: Config.HandshakeTimeout,
// or handshakeBudget of the round trip the network is known to have, until the dial's
// connect measures its own, from which on the attempt has handshakeBudget of that. The
// deadline goes on after dial returns, for the session's handshake; the caller stops
// it. A failure is returned classified.
func (c *Client) dial(ctx context.Context, i int, r *round) (*try, *failure.Error) {
	t := &try{idx: i, began: time.Now(), obs: failure.Observation{TLS: c.families[i].speaksTLS()}}
	limit := t.began.Add(c.cfg.HandshakeTimeout)
	first := limit
	if rtt, ok := r.knownRTT(); ok {
		first = earlier(limit, t.began.Add(handshakeBudget(rtt)))
	}
	t.dl = newDeadline(ctx, first)
	var connected atomic.Bool
	trace := &transports.Trace{Connected: func(_ string, rtt time.Duration) {
		if connected.CompareAndSwap(false, true) {
			r.sawRTT(rtt)
			t.dl.reset(earlier(limit, time.Now().Add(handshakeBudget(rtt))))
		}
	}}
	conn, err := c.dialers[i].Dial(transports.WithTrace(t.dl.ctx, trace))
	if err != nil {
		t.dl.stop()
		t.obs.Step, t.obs.Err = failure.StepConnect, t.dl.err(fmt.Errorf("dial: %w", err))
		if connected.Load() {
			t.obs.Step = failure.StepTransport
		}
		return nil, failure.Classify(t.obs)
	}
	t.meter = failure.NewMeter(conn)
	return t, nil
}
