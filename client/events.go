package client

import (
	"time"

	"github.com/umbrella-edge/edge/client/failure"
)

// Event is something the client did, for an app to show or log.
type Event struct {
	Kind   EventKind
	Bridge int    // index into Config.Bridges; -1 when the event is about no one bridge
	Name   string // the bridge's transport name
	// Err says why, for EventFailed, EventLost, EventEnded, EventBlocked and
	// EventSuspected.
	Err error
	// Took is, for EventResumed, the time from losing the carrier to resuming on a new
	// one; for EventActive, the time the winning bridge took to complete its session.
	Took time.Duration
	// Retry is, for EventBlocked, how long until the next round of attempts.
	Retry time.Duration
	// Skew is, for EventClock, how far the device's clock is from the gateway's
	// (positive: the device is behind); zero once it is right again.
	Skew time.Duration
}

// EventKind says what an Event reports.
type EventKind int

const (
	EventAttempt EventKind = iota // trying a bridge
	EventFailed                   // a bridge failed; Err says why
	EventActive                   // a new session runs on a bridge
	EventLost                     // the active carrier died; the session waits for a new one
	EventResumed                  // the session moved to a new carrier; its streams live on
	EventEnded                    // the session ended and its streams failed; Err says why
	EventBlocked                  // every bridge failed; the next round is in Retry
	// EventSuspected: nothing acknowledged the active carrier's data for a few round
	// trips; a spare is being raised beside it (Err says how long it has been stuck).
	EventSuspected
	EventRecovered // the suspected carrier moved data again; the spare was closed
	// EventClock: the device's clock is off by Skew; a session was made with the
	// gateway's time, which the client uses from now on. Tell the user to set the
	// clock (failure.SkewText says by how much).
	EventClock
)

func (k EventKind) String() string {
	names := [...]string{"attempt", "failed", "active", "lost", "resumed", "ended", "blocked", "suspected", "recovered", "clock"}
	if k < 0 || int(k) >= len(names) {
		return "unknown"
	}
	return names[k]
}

// emit logs e and passes it to Config.OnEvent. Only the client's run loop emits, so
// events arrive in order from one goroutine.
func (c *Client) emit(e Event) {
	attrs := []any{"bridge", e.Bridge, "transport", e.Name}
	switch e.Kind {
	case EventAttempt:
		c.log.Debug("trying bridge", attrs...)
	case EventFailed:
		c.log.Warn("bridge failed", append(attrs, "err", e.Err)...)
	case EventActive:
		c.log.Info("active transport", append(attrs, "took", e.Took)...)
	case EventLost:
		c.log.Warn("carrier lost, resuming", append(attrs, "err", e.Err)...)
	case EventResumed:
		c.log.Info("session resumed", append(attrs, "took", e.Took)...)
	case EventEnded:
		c.log.Warn("session ended", append(attrs, "err", e.Err)...)
	case EventSuspected:
		c.log.Info("carrier suspected, raising a spare", append(attrs, "err", e.Err)...)
	case EventRecovered:
		c.log.Info("suspected carrier recovered; spare closed", attrs...)
	case EventClock:
		c.log.Warn("the device's clock is off; using the gateway's time", append(attrs, "off", failure.SkewText(e.Skew))...)
	case EventBlocked:
		c.log.Error("all bridges failed", "bridges", len(c.cfg.Bridges), "retry_in", e.Retry, "err", e.Err)
	}
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(e)
	}
}
