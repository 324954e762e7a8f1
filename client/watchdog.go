package client

import (
	"time"

	"github.com/umbrella-edge/edge/session"
)

// The watchdog has two limits on how long data (or a ping) may wait for an
// acknowledgement.
//
// Suspicion comes after suspectRTOs retransmission timeouts as RFC 6298 section 2.3
// computes them (SRTT + 4·RTTVAR), plus the receiver's acknowledgement delay, at least
// suspectFloor. RFC 6298's 1 s minimum (2.4) is left out: it alone would rule out
// moving in under a second, and a suspicion only raises a spare carrier beside the
// current one, which the session moves to only if the current one is still stuck
// when the spare is up. Three RTOs is where TCP itself has backed off twice; the
// floor absorbs a scheduler's hiccup on a loaded device.
//
// Death comes after 4·SRTT + 1 s: the 4·RTT of TCP's retransmission timeout with the
// variance folded in, plus a second for a peer busy on a shared machine, clamped so
// that a fast network still tolerates a hiccup (2 s) and a slow one is not left
// hanging once the censor has frozen it (20 s). The carrier is then dropped whether or
// not a spare is up: the last resort. Before any RTT sample RFC 6298's initial 1 s RTO
// stands in.
const (
	suspectRTOs    = 3
	suspectFloor   = 300 * time.Millisecond
	stallMin       = 2 * time.Second
	stallMax       = 20 * time.Second
	stallSlack     = time.Second
	defaultRTT     = time.Second
	watchdogPeriod = 250 * time.Millisecond
	// suspectPeriod is how often a suspected carrier is looked at, to notice soon
	// that it recovered (and close the spare) or that the spare is needed.
	suspectPeriod = 50 * time.Millisecond
)

// suspectTimeout is how long data may wait for an acknowledgement before the carrier
// is suspected.
func suspectTimeout(p session.Progress) time.Duration {
	srtt, rttvar := p.SRTT, p.RTTVar
	if srtt <= 0 {
		srtt, rttvar = defaultRTT, defaultRTT/2
	}
	return max(suspectRTOs*(srtt+4*rttvar)+session.AckDelay, suspectFloor)
}

// stallTimeout is how long data may wait for an acknowledgement before the carrier is
// declared dead: clamp(4·SRTT + 1 s, 2 s, 20 s).
func stallTimeout(srtt time.Duration) time.Duration {
	if srtt <= 0 {
		srtt = defaultRTT
	}
	return min(max(4*srtt+stallSlack, stallMin), stallMax)
}

// health is a watchdog's verdict on a carrier.
type health int

const (
	healthy   health = iota
	suspected        // a spare is worth raising
	dead             // drop it
)

// watchdog decides from progress samples whether a carrier is stuck: data is pending
// (unacknowledged bytes or an unanswered ping) and nothing has moved for a while. A
// carrier frozen in one direction keeps its socket open and passes TCP keepalives;
// only this notices it.
type watchdog struct {
	since    time.Time // when the current wait began; zero while nothing is pending
	lastSeen time.Time // LastProgress at the previous sample
	sampled  time.Time // the previous sample
}

// check takes one sample at now. It returns the carrier's health, a *StallError
// saying how long it has been stuck when it is not healthy, and when to look again.
func (w *watchdog) check(p session.Progress, now time.Time) (health, *StallError, time.Duration) {
	advanced := p.LastProgress.After(w.lastSeen)
	w.lastSeen = p.LastProgress
	prev := w.sampled
	w.sampled = now
	if p.Unacked == 0 && !p.PingOutstanding {
		w.since = time.Time{}
		return healthy, nil, watchdogPeriod
	}
	switch start := p.LastProgress; {
	case w.since.IsZero():
		// The wait began when the data started waiting (LastProgress) or the ping
		// went out, but not before the previous sample, which saw nothing pending.
		if p.Unacked == 0 {
			start = later(start, p.PingSent)
		}
		w.since = later(start, prev)
	case advanced:
		w.since = p.LastProgress
	}
	stalled := now.Sub(w.since)
	suspect, limit := suspectTimeout(p), stallTimeout(p.SRTT)
	stall := &StallError{Unacked: p.Unacked, Ping: p.PingOutstanding, Stalled: stalled, Limit: limit}
	switch {
	case stalled >= limit:
		return dead, stall, watchdogPeriod
	case stalled >= suspect:
		stall.Limit = suspect
		return suspected, stall, min(suspectPeriod, limit-stalled)
	}
	return healthy, nil, min(watchdogPeriod, suspect-stalled)
}
