package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/umbrella-edge/edge/session"
)

// outcome is one attempt's result.
type outcome struct {
	idx     int
	sess    *session.Session // a new session; nil when the waiting one resumed
	resumed bool
	took    time.Duration
	err     error
}

// discard closes what a losing attempt opened.
func (o outcome) discard() {
	if o.sess != nil {
		o.sess.Close()
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
	results := make(chan outcome, len(p.order))
	turns := newTurns(resumePatience(p.headStart))
	var failures []*BridgeError
	next, running := 0, 0
	timer := time.NewTimer(p.headStart)
	defer timer.Stop()
	start := func() {
		i := p.order[next]
		next++
		running++
		c.emit(Event{Kind: EventAttempt, Bridge: i, Name: c.cfg.Bridges[i].Transport})
		c.wg.Go(func() { results <- c.attempt(ctx, i, cur, turns) })
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
			c.emit(Event{Kind: EventFailed, Bridge: f.Bridge, Name: f.Transport, Err: f.Err})
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
// dial and a new session's handshake share one Config.HandshakeTimeout; a resume's
// handshake gets its own once its turn comes (see turns).
func (c *Client) attempt(ctx context.Context, i int, cur current, turns *turns) outcome {
	began := time.Now()
	b := c.cfg.Bridges[i]
	cc := &session.ClientConfig{GatewayKey: b.Key, Secret: b.Secret, Endpoint: b.Endpoint()}
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	conn, err := c.dialers[i].Dial(hctx)
	if err != nil {
		return outcome{idx: i, err: fmt.Errorf("dial: %w", err)}
	}
	if cur.sess != nil && bytes.Equal(cur.key, b.Key) {
		err = turns.resume(ctx, c.cfg.HandshakeTimeout, func(ctx context.Context) error {
			return cur.sess.Resume(ctx, conn, cc)
		})
		if err != nil {
			conn.Close()
			return outcome{idx: i, err: fmt.Errorf("resume: %w", err)}
		}
		return outcome{idx: i, resumed: true, took: time.Since(began)}
	}
	sess, err := session.Client(hctx, conn, cc)
	if err != nil {
		conn.Close()
		return outcome{idx: i, err: fmt.Errorf("session: %w", err)}
	}
	return outcome{idx: i, sess: sess, took: time.Since(began)}
}
