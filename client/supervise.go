package client

import (
	"context"
	"time"
)

// supervise watches the carrier of cur until the session moves off it, it dies, or the
// session ends. It records the bridge as working on its network once real data has
// moved. When the watchdog suspects the carrier, it raises a spare beside it (see
// hedge) and moves the session there if the carrier is still stuck once the spare is
// up; when the watchdog finds it dead, it drops it. It returns the dead carrier's
// family and when it died; both are zero when the session moved or ended instead.
func (c *Client) supervise(ctx context.Context, cur current) (family, time.Time) {
	done, carrier := cur.sess.Done(), cur.sess.CarrierDone()
	in0, out0 := cur.sess.Bytes()
	proved := false
	var (
		wd    watchdog
		h     hedge
		stall *StallError
	)
	defer h.drop(c)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		var lost error
		select {
		case <-ctx.Done():
			return "", time.Time{}
		case <-done:
			c.end(cur, cur.sess.Err())
			return "", time.Time{}
		case <-carrier:
			select {
			case <-done: // the carrier died with the session
				c.end(cur, cur.sess.Err())
				return "", time.Time{}
			default:
			}
			lost = errCarrierClosed
		case r := <-h.ready():
			h.landed()
			if r.err != nil {
				c.spareFailed(cur, r.idx, r.err)
				continue
			}
			// Moves only if the carrier is still stuck; else the spare is closed.
			if c.moveIfStuck(ctx, cur, &wd, r.t, &h) {
				return "", time.Time{}
			}
		case now := <-timer.C:
			p := cur.sess.Progress()
			if !proved {
				in, out := cur.sess.Bytes()
				if proved = carriedData(in-in0, out-out0, p); proved {
					c.remember(cur.network, cur.bridge, p.SRTT)
				}
			}
			var state health
			var next time.Duration
			state, stall, next = wd.check(p, now)
			timer.Reset(next)
			switch {
			case state == dead:
				cur.sess.DropCarrier()
				lost = stall
			case state == suspected:
				h.raise(ctx, c, cur, stall)
			case state == healthy && h.suspecting:
				h.drop(c)
				c.emit(Event{Kind: EventRecovered, Bridge: cur.bridge, Name: c.transportOf(cur.bridge)})
			}
		}
		if lost != nil {
			return c.carrierLost(ctx, cur, lost, &h)
		}
	}
}

// carrierLost handles the death of cur's carrier: it demotes the bridge, tells the
// caller, and resumes the session on the spare if one is on its way and comes up; else
// it returns the dead carrier's family and when it died, for the run loop to race.
func (c *Client) carrierLost(ctx context.Context, cur current, lost error, h *hedge) (family, time.Time) {
	lostAt := time.Now()
	why := c.carrierFailed(cur, lost)
	if !c.update(func() { c.cur.bridge = -1 }) {
		return "", time.Time{}
	}
	c.emit(Event{Kind: EventLost, Bridge: cur.bridge, Name: c.transportOf(cur.bridge), Err: why})
	if t := h.await(ctx, c, cur); t != nil && c.resumeOn(ctx, cur, t, lostAt) {
		return "", time.Time{}
	}
	return c.families[cur.bridge], lostAt
}
