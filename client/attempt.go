package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

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
			timeout = min(timeout, c.patience[i].budget(rtt))
		}
		err := r.turns.resume(ctx, timeout, func(ctx context.Context) error {
			return cur.sess.Resume(ctx, t.meter, cc)
		})
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				c.patience[i].lateAnswer()
			}
			return outcome{idx: i, offset: q.offset, err: t.fail(failure.StepSession, fmt.Errorf("resume: %w", err))}
		}
		c.patience[i].answered()
		return outcome{idx: i, offset: q.offset, meter: t.meter, resumed: true, took: time.Since(t.began)}
	}
	sess, err := session.Client(t.dl.ctx, t.meter, cc)
	if err != nil {
		if t.dl.passed() {
			c.patience[i].lateAnswer()
		}
		return outcome{idx: i, offset: q.offset, err: t.fail(failure.StepSession, t.dl.err(fmt.Errorf("session: %w", err)))}
	}
	c.patience[i].answered()
	return outcome{idx: i, offset: q.offset, sess: sess, meter: t.meter, took: time.Since(t.began)}
}

// sessionConfig is the session's side of bridge line b, its hellos timed with the
// device's clock plus offset.
func (c *Client) sessionConfig(b bridge.Line, offset time.Duration) *session.ClientConfig {
	return &session.ClientConfig{GatewayKey: b.Key, Secret: b.Secret, Endpoint: b.Endpoint(),
		Now: c.clock.with(offset), IdlePing: c.idlePing()}
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
		first = earlier(limit, t.began.Add(c.patience[i].budget(rtt)))
	}
	t.dl = newDeadline(ctx, first)
	var connected atomic.Bool
	trace := &transports.Trace{Connected: func(_ string, rtt time.Duration) {
		if connected.CompareAndSwap(false, true) {
			r.sawRTT(rtt)
			t.dl.reset(earlier(limit, time.Now().Add(c.patience[i].budget(rtt))))
		}
	}}
	conn, err := c.dialers[i].Dial(transports.WithClock(transports.WithTrace(t.dl.ctx, trace), t.now))
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
