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

// attempt dials bridge q.idx and completes a session handshake on the carrier: a resume of
// the waiting session when the bridge leads to its gateway, else a new session. The
// dial and a new session's handshake share one deadline (see dial); a resume's
// handshake gets its own once its turn comes (see turns). A failure is returned as a
// *failure.Error.
func (c *Client) attempt(ctx context.Context, q queued, cur current, r *round) outcome {
	i := q.idx
	t, ferr := c.dial(ctx, i, r, q.offset)
	if ferr != nil {
		return outcome{idx: i, offset: q.offset, err: ferr}
	}
	defer t.dl.stop()
	b := c.cfg.Bridges[i]
	cc := c.sessionConfig(b, q.offset)
	if cur.sess != nil && bytes.Equal(cur.key, b.Key) {
		timeout := c.cfg.HandshakeTimeout
		if rtt, ok := r.knownRTT(); ok {
			timeout = min(timeout, handshakeBudget(rtt))
		}
		err := r.turns.resume(ctx, timeout, func(ctx context.Context) error {
			return cur.sess.Resume(ctx, t.meter, cc)
		})
		if err != nil {
			return outcome{idx: i, offset: q.offset, err: t.fail(failure.StepSession, fmt.Errorf("resume: %w", err))}
		}
		return outcome{idx: i, offset: q.offset, meter: t.meter, resumed: true, took: time.Since(t.began)}
	}
	sess, err := session.Client(t.dl.ctx, t.meter, cc)
	if err != nil {
		return outcome{idx: i, offset: q.offset, err: t.fail(failure.StepSession, t.dl.err(fmt.Errorf("session: %w", err)))}
	}
	return outcome{idx: i, offset: q.offset, sess: sess, meter: t.meter, took: time.Since(t.began)}
}

// sessionConfig is the session's side of bridge line b, its hellos timed with the
// device's clock plus offset.
func (c *Client) sessionConfig(b config.Bridge, offset time.Duration) *session.ClientConfig {
	return &session.ClientConfig{GatewayKey: b.Key, Secret: b.Secret, Endpoint: b.Endpoint(), Now: c.clock.with(offset)}
}

// answerWait bounds the wait for the rest of a website's answer to a hello (see
// failure.Meter.FillHTTP): it comes in one piece, behind the bytes already read.
const answerWait = 200 * time.Millisecond

// try is a carrier dialled for an attempt, the deadline the attempt runs under, and
// the clock its hellos carry.
type try struct {
	idx   int
	began time.Time
	dl    *deadline
	meter *failure.Meter
	now   func() time.Time
	obs   failure.Observation
}

// fail closes the carrier and classifies err, which stopped the attempt at step, with
// what the carrier delivered and the Date its server sent.
func (t *try) fail(step failure.Step, err error) *failure.Error {
	t.meter.FillHTTP(answerWait)
	t.meter.Close()
	t.obs.Received, t.obs.Head, t.obs.Local = t.meter.Received(), t.meter.Head(), t.now()
	if d, ok := t.meter.Conn.(transports.Dated); ok {
		t.obs.ServerDate = d.ServerDate()
	}
	t.obs.Step, t.obs.Err = step, err
	return failure.Classify(t.obs)
}

// dial opens a carrier to bridge i under an attempt's deadline: Config.HandshakeTimeout,
// or handshakeBudget of the round trip the network is known to have, until the dial's
// connect measures its own, from which on the attempt has handshakeBudget of that. The
// deadline goes on after dial returns, for the session's handshake; the caller stops
// it. A failure is returned classified.
func (c *Client) dial(ctx context.Context, i int, r *round, offset time.Duration) (*try, *failure.Error) {
	t := &try{idx: i, began: time.Now(), now: c.clock.with(offset), obs: failure.Observation{TLS: c.families[i].speaksTLS()}}
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
