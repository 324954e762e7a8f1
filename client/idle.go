package client

import "time"

// IdlePreset says how often an idle session pings its gateway. On an idle session a
// ping is the only traffic, so a carrier cut silently is noticed, and a message the
// gateway holds for the client delivered, only after the next ping (plus the
// watchdog's suspicion and the move, under a second). Each ping also wakes the
// device's radio: an LTE radio stays in its high-power state for about 11.6 s after
// any packet (the RRC tail measured by Huang et al., "A Close Examination of
// Performance and Power Characteristics of 4G LTE Networks", MobiSys 2012), so pings
// closer than that keep it awake all the time.
//
// Nothing else wakes an idle session's radio on a TCP carrier: the gateway pings an
// idle carrier only after hearing nothing from the client for two minutes
// (session.GatewayIdlePing), and the kernels' TCP keepalives start after 90 s of
// silence. A QUIC carrier needs a packet every 15 s (its 30 s idle timeout is
// Chrome's, which the handshake shows), so in the background it costs four QUIC
// PINGs a minute beside the session's one.
type IdlePreset int

const (
	// Foreground pings every 5 s: for an app on screen, where the display costs more
	// than the radio and a message should not wait. It is the default.
	Foreground IdlePreset = iota
	// Background pings every 60 s: for an app in the background, where a message may
	// wait up to a minute after a silent cut and the radio mostly sleeps.
	Background
)

const (
	foregroundPing = 5 * time.Second
	backgroundPing = 60 * time.Second
)

func (p IdlePreset) interval() time.Duration {
	if p == Background {
		return backgroundPing
	}
	return foregroundPing
}

func (p IdlePreset) String() string {
	if p == Background {
		return "background"
	}
	return "foreground"
}

// SetIdle switches the idle preset, for the session in use and those to come: an app
// calls it when it moves to the background and back.
func (c *Client) SetIdle(p IdlePreset) {
	c.mu.Lock()
	c.idle = p
	sess := c.cur.sess
	c.mu.Unlock()
	if sess != nil {
		sess.SetIdlePing(p.interval())
	}
	c.log.Debug("idle preset", "preset", p.String(), "ping_every", p.interval())
}

// idlePing is the interval of the preset in force.
func (c *Client) idlePing() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idle.interval()
}
