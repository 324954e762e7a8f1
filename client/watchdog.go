package client

import (
	"time"

	"github.com/umbrella-edge/edge/session"
)

// Stall limits. The limit is 4·SRTT + 1 s: the 4·RTT of TCP's retransmission timeout
// (RFC 6298 §2.3, with the variance folded in) plus a second for a peer busy on a shared
// machine, clamped so that a fast network still tolerates a hiccup (2 s) and a slow one
// is not left hanging once the censor has frozen it (20 s). Before any RTT sample the
// session has not answered a ping yet, and RFC 6298's initial 1 s RTO stands in.
const (
	stallMin       = 2 * time.Second
	stallMax       = 20 * time.Second
	stallSlack     = time.Second
	defaultRTT     = time.Second
	watchdogPeriod = 250 * time.Millisecond
)

// stallTimeout is how long data may wait for an acknowledgement before the carrier is
// declared dead: clamp(4·SRTT + 1 s, 2 s, 20 s).
func stallTimeout(srtt time.Duration) time.Duration {
	if srtt <= 0 {
		srtt = defaultRTT
	}
	return min(max(4*srtt+stallSlack, stallMin), stallMax)
}

// watchdog decides from periodic progress samples whether a carrier is dead: data is
// pending (unacknowledged bytes or an unanswered ping) and nothing has moved for
// stallTimeout. A carrier frozen in one direction keeps its socket open and passes
// TCP keepalives; only this notices it.
type watchdog struct {
	since    time.Time // when the current wait began; zero while nothing is pending
	lastSeen time.Time // LastProgress at the previous sample
}

// check takes one sample at now and returns a *StallError when the carrier is dead.
func (w *watchdog) check(p session.Progress, now time.Time) *StallError {
	advanced := p.LastProgress.After(w.lastSeen)
	w.lastSeen = p.LastProgress
	switch {
	case p.Unacked == 0 && !p.PingOutstanding:
		w.since = time.Time{}
		return nil
	case w.since.IsZero():
		// An idle session's LastProgress can be old: the wait starts when a sample
		// first sees data pending, not at the last progress.
		w.since = now
	case advanced:
		w.since = p.LastProgress
	}
	stalled, limit := now.Sub(w.since), stallTimeout(p.SRTT)
	if stalled < limit {
		return nil
	}
	return &StallError{Unacked: p.Unacked, Ping: p.PingOutstanding, Stalled: stalled, Limit: limit}
}
