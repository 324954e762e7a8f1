package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/session"
)

// provedBytes is how much must arrive on a carrier, short of a round trip, before it
// counts as having carried real data: about where a censor that freezes connections
// after their first 14–20 KB (Russia, 2025) has already struck.
const provedBytes = 16 << 10

// errCarrierClosed is why a carrier was lost when the session only says it died.
var errCarrierClosed = errors.New("carrier closed")

// run keeps a session until ctx ends: it races the bridges for a carrier, supervises
// the carrier until it dies, and races again to resume the session on another.
func (c *Client) run(ctx context.Context) {
	var (
		bo     backoff
		avoid  family    // family of the carrier that just died, tried last
		lostAt time.Time // when the waiting session lost its carrier
	)
	for ctx.Err() == nil {
		c.mu.Lock()
		cur := c.cur
		c.mu.Unlock()
		if cur.sess != nil && cur.bridge >= 0 {
			avoid, lostAt = c.supervise(ctx, cur)
			continue
		}
		network := c.cfg.Network()
		c.update(func() { c.blocked, c.retryAt = nil, time.Time{} })
		p := c.planRound(network, cur.key, avoid, time.Now())
		won, failures, err := c.race(ctx, p, cur)
		for _, f := range failures {
			c.demote(network, f.Bridge, f.Err)
		}
		var ce *ConnectError
		switch {
		case err == nil:
			bo.reset()
			avoid = ""
			if c.clock.adopt(won.offset) {
				c.emit(Event{Kind: EventClock, Bridge: won.idx, Name: c.transportOf(won.idx), Skew: won.offset})
			}
			c.adopt(network, cur, won, lostAt)
		case errors.Is(err, session.ErrResumeRejected):
			c.end(cur, err)
		case errors.As(err, &ce):
			wait := bo.next()
			c.update(func() { c.blocked, c.retryAt = ce, time.Now().Add(wait) })
			c.emit(Event{Kind: EventBlocked, Bridge: -1, Err: ce, Retry: wait})
			sleep(ctx, wait)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// adopt makes a round's winner the client's carrier: the waiting session resumed on
// it, or a new session, which replaces (and ends) a waiting one.
func (c *Client) adopt(network string, old current, won outcome, lostAt time.Time) {
	b := c.cfg.Bridges[won.idx]
	if won.resumed {
		c.learnKey(b, old.sess) // kept before anyone is told of the carrier
		if !c.update(func() { c.cur.bridge, c.cur.network, c.cur.carrier = won.idx, network, won.meter }) {
			return
		}
		c.emit(Event{Kind: EventResumed, Bridge: won.idx, Name: b.Transport, Took: time.Since(lostAt)})
		return
	}
	next := current{sess: won.sess, key: b.Key, bridge: won.idx, network: network, carrier: won.meter}
	c.learnKey(b, won.sess) // kept before anyone is told of the session
	if !c.update(func() { c.cur = next }) {
		won.sess.Close()
		return
	}
	won.sess.SetIdlePing(c.idlePing()) // the preset may have changed while it was made
	if old.sess != nil {
		old.sess.Close()
		c.emit(Event{Kind: EventEnded, Bridge: -1, Err: ErrGatewayChanged})
	}
	c.emit(Event{Kind: EventActive, Bridge: won.idx, Name: b.Transport, Took: won.took})
}

// carriedData reports whether real data has moved on a carrier, given the stream bytes
// received and sent since it was attached: provedBytes received, or a round trip (data
// both ways and all that was sent acknowledged).
func carriedData(in, out uint64, p session.Progress) bool {
	return in >= provedBytes || (in > 0 && out > 0 && p.Unacked == 0)
}

// end forgets a session that ended for good; the run loop opens a new one.
func (c *Client) end(cur current, why error) {
	if why == nil {
		why = errCarrierClosed
	}
	ok := c.update(func() {
		if c.cur.sess == cur.sess {
			c.cur = current{bridge: -1}
		}
	})
	if ok {
		c.emit(Event{Kind: EventEnded, Bridge: cur.bridge, Name: c.transportOf(cur.bridge), Err: why})
	}
}

func (c *Client) transportOf(bridge int) string {
	if bridge < 0 {
		return ""
	}
	return c.cfg.Bridges[bridge].Transport
}

// remember records that bridge carried real data on network.
func (c *Client) remember(network string, bridge int, rtt time.Duration) {
	if err := c.mem.worked(network, c.keys[bridge], c.families[bridge], rtt, time.Now()); err != nil {
		c.log.Warn("client: network memory", "err", err)
	}
	c.log.Debug("bridge carried data; remembered for this network", "bridge", bridge, "transport", c.cfg.Bridges[bridge].Transport)
}

// carrierFailed classifies why cur's carrier was lost, demotes its bridge, and returns
// the classified error.
func (c *Client) carrierFailed(cur current, lost error) error {
	obs := failure.Observation{Step: failure.StepData, Err: lost, TLS: c.families[cur.bridge].speaksTLS()}
	if cur.carrier != nil {
		obs.Received, obs.Head = cur.carrier.Received(), cur.carrier.Head()
		// The session only says its carrier closed; the carrier says how (a reset,
		// an end of stream).
		if err := cur.carrier.Err(); err != nil && errors.Is(lost, errCarrierClosed) {
			obs.Err = fmt.Errorf("%w: %w", lost, err)
		}
	}
	why := failure.Classify(obs)
	c.demote(cur.network, cur.bridge, why)
	return why
}

// demote records that bridge failed user traffic on network, and the failure's
// censor pattern against the bridge's family; a pattern seen twice demotes the family.
func (c *Client) demote(network string, bridge int, why error) {
	now := time.Now()
	until, err := c.mem.failed(network, c.keys[bridge], now)
	if err != nil {
		c.log.Warn("client: network memory", "err", err)
	}
	c.log.Debug("bridge demoted on this network", "bridge", bridge, "transport", c.cfg.Bridges[bridge].Transport, "until", until)
	var fe *failure.Error
	if !errors.As(why, &fe) {
		return
	}
	f := c.families[bridge]
	until, err = c.mem.familyFailed(network, f, fe, now)
	if err != nil {
		c.log.Warn("client: network memory", "err", err)
	}
	if !until.IsZero() {
		c.log.Info("family of transports demoted on this network: the same censor pattern twice", "family", string(f), "pattern", fe.Cause.String(), "until", until)
	}
}
