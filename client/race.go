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
// dial and a new session's handshake share one deadline: Config.HandshakeTimeout, or
// handshakeBudget of the round trip the network is known to have, until the dial's
// connect measures its own, from which on they have handshakeBudget of that. A
// resume's handshake gets its own once its turn comes (see turns). A failure is
// returned as a *failure.Error.
func (c *Client) attempt(ctx context.Context, i int, cur current, r *round) outcome {
	began := time.Now()
	b := c.cfg.Bridges[i]
	limit := began.Add(c.cfg.HandshakeTimeout)
	first := limit
	if rtt, ok := r.knownRTT(); ok {
		first = earlier(limit, began.Add(handshakeBudget(rtt)))
	}
	dl := newDeadline(ctx, first)
	defer dl.stop()
	var connected atomic.Bool
	trace := &transports.Trace{Connected: func(_ string, rtt time.Duration) {
		if connected.CompareAndSwap(false, true) {
			r.sawRTT(rtt)
			dl.reset(earlier(limit, time.Now().Add(handshakeBudget(rtt))))
		}
	}}
	obs := failure.Observation{TLS: c.families[i].speaksTLS()}
	fail := func(step failure.Step, err error) outcome {
		obs.Step, obs.Err = step, err
		return outcome{idx: i, err: failure.Classify(obs)}
	}
	conn, err := c.dialers[i].Dial(transports.WithTrace(dl.ctx, trace))
	if err != nil {
		step := failure.StepConnect
		if connected.Load() {
			step = failure.StepTransport
		}
		return fail(step, dl.err(fmt.Errorf("dial: %w", err)))
	}
	m := failure.NewMeter(conn)
	cc := &session.ClientConfig{GatewayKey: b.Key, Secret: b.Secret, Endpoint: b.Endpoint()}
	if cur.sess != nil && bytes.Equal(cur.key, b.Key) {
		timeout := c.cfg.HandshakeTimeout
		if rtt, ok := r.knownRTT(); ok {
			timeout = min(timeout, handshakeBudget(rtt))
		}
		err = r.turns.resume(ctx, timeout, func(ctx context.Context) error {
			return cur.sess.Resume(ctx, m, cc)
		})
		if err != nil {
			m.Close()
			obs.Received, obs.Head = m.Received(), m.Head()
			return fail(failure.StepSession, fmt.Errorf("resume: %w", err))
		}
		return outcome{idx: i, meter: m, resumed: true, took: time.Since(began)}
	}
	sess, err := session.Client(dl.ctx, m, cc)
	if err != nil {
		m.Close()
		obs.Received, obs.Head = m.Received(), m.Head()
		return fail(failure.StepSession, dl.err(fmt.Errorf("session: %w", err)))
	}
	return outcome{idx: i, sess: sess, meter: m, took: time.Since(began)}
}
