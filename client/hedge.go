package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/session"
)

// hedge is a suspected carrier's spare: another bridge to the session's gateway,
// dialled beside the carrier without dropping it. When the spare is up and the carrier
// is still stuck, the session resumes on the spare; when the carrier recovers first,
// the spare is closed. Only the supervising goroutine touches a hedge.
type hedge struct {
	suspecting bool
	tried      map[int]bool // bridges that failed as spares during this suspicion
	s          *spare       // the spare being dialled; nil when none
}

// spare is a dial in flight.
type spare struct {
	idx    int
	cancel context.CancelFunc
	result chan spareResult // receives once
}

type spareResult struct {
	idx int
	t   *try           // the carrier, when it came up
	err *failure.Error // why not
}

// ready receives the spare's dial result; nil (never ready) when no spare is in flight.
func (h *hedge) ready() <-chan spareResult {
	if h.s == nil {
		return nil
	}
	return h.s.result
}

// landed records that the spare's result was received.
func (h *hedge) landed() { h.s = nil }

// raise suspects cur's carrier, telling the caller the first time, and starts dialling
// the best bridge for a spare that has not failed as one yet: to the session's
// gateway, not the one in use, of another family first, what worked on the network
// before the rest. It does nothing while a spare is in flight or none is left.
func (h *hedge) raise(ctx context.Context, c *Client, cur current, stall *StallError) {
	if h.s != nil {
		return
	}
	if !h.suspecting {
		h.suspecting, h.tried = true, map[int]bool{}
		c.emit(Event{Kind: EventSuspected, Bridge: cur.bridge, Name: c.transportOf(cur.bridge), Err: stall})
	}
	p := c.planRound(cur.network, cur.key, c.families[cur.bridge], time.Now())
	idx := -1
	for _, i := range p.order {
		if i != cur.bridge && !h.tried[i] && bytes.Equal(c.cfg.Bridges[i].Key, cur.key) {
			idx = i
			break
		}
	}
	if idx < 0 {
		return
	}
	p.rtt, p.rttKnown = cur.sess.Progress().SRTT, true
	r := newRound(p)
	sctx, cancel := context.WithCancel(ctx)
	s := &spare{idx: idx, cancel: cancel, result: make(chan spareResult, 1)}
	h.s, h.tried[idx] = s, true
	c.emit(Event{Kind: EventAttempt, Bridge: idx, Name: c.transportOf(idx)})
	c.wg.Go(func() {
		t, err := c.dial(sctx, idx, r, c.clock.off())
		s.result <- spareResult{idx: idx, t: t, err: err}
	})
}

// drop ends the suspicion: the spare in flight, if any, is cancelled, and closed if
// it comes up anyway.
func (h *hedge) drop(c *Client) {
	if s := h.s; s != nil {
		s.cancel()
		c.wg.Go(func() {
			if r := <-s.result; r.t != nil {
				r.t.dl.stop()
				r.t.meter.Close()
			}
		})
	}
	*h = hedge{}
}

// await waits for the spare in flight, if any, once the carrier has died, and returns
// its carrier; nil when there is none, it failed, or the session or ctx ended.
func (h *hedge) await(ctx context.Context, c *Client, cur current) *try {
	if h.s == nil {
		return nil
	}
	select {
	case r := <-h.s.result:
		h.landed()
		if r.err != nil {
			c.spareFailed(cur, r.idx, r.err)
			return nil
		}
		return r.t
	case <-ctx.Done():
	case <-cur.sess.Done():
	}
	return nil
}

// moveIfStuck resumes cur's session on the spare t if the carrier is still stuck, and
// reports whether it did; if the carrier recovered, it closes t and ends the suspicion.
func (c *Client) moveIfStuck(ctx context.Context, cur current, wd *watchdog, t *try, h *hedge) bool {
	state, stall, _ := wd.check(cur.sess.Progress(), time.Now())
	if state == healthy {
		t.dl.stop()
		t.meter.Close()
		h.drop(c)
		c.emit(Event{Kind: EventRecovered, Bridge: cur.bridge, Name: c.transportOf(cur.bridge)})
		return false
	}
	stuckAt := time.Now().Add(-stall.Stalled)
	if c.resumeSpare(ctx, cur, t) != nil {
		return false
	}
	why := c.carrierFailed(cur, stall)
	c.emit(Event{Kind: EventLost, Bridge: cur.bridge, Name: c.transportOf(cur.bridge), Err: why})
	c.moved(t, stuckAt)
	return true
}

// resumeOn resumes cur's session, whose carrier died at lostAt, on the spare t, and
// reports whether it did.
func (c *Client) resumeOn(ctx context.Context, cur current, t *try, lostAt time.Time) bool {
	if c.resumeSpare(ctx, cur, t) != nil {
		return false
	}
	c.moved(t, lostAt)
	return true
}

// moved makes the spare t the session's carrier and tells the caller.
func (c *Client) moved(t *try, since time.Time) {
	if c.update(func() { c.cur.bridge, c.cur.carrier = t.idx, t.meter }) {
		c.emit(Event{Kind: EventResumed, Bridge: t.idx, Name: c.transportOf(t.idx), Took: time.Since(since)})
	}
}

// resumeSpare resumes cur's session on t's carrier within a handshake budget of the
// session's round trip. On failure it closes the carrier and reports it; a gateway
// that no longer has the session ends it.
func (c *Client) resumeSpare(ctx context.Context, cur current, t *try) error {
	defer t.dl.stop()
	budget := min(c.cfg.HandshakeTimeout, handshakeBudget(cur.sess.Progress().SRTT))
	rctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	err := cur.sess.Resume(rctx, t.meter, c.sessionConfig(c.cfg.Bridges[t.idx], c.clock.off()))
	if err == nil {
		return nil
	}
	c.spareFailed(cur, t.idx, t.fail(failure.StepSession, fmt.Errorf("resume: %w", err)))
	if errors.Is(err, session.ErrResumeRejected) {
		c.end(cur, err)
	}
	return err
}

// spareFailed reports and demotes a bridge that failed as a spare.
func (c *Client) spareFailed(cur current, idx int, why *failure.Error) {
	f := &BridgeError{Bridge: idx, Transport: c.transportOf(idx), Err: why}
	c.emit(Event{Kind: EventFailed, Bridge: idx, Name: f.Transport, Err: f})
	c.demote(cur.network, idx, why)
}
