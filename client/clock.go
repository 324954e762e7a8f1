package client

import (
	"sync/atomic"
	"time"
)

// clock is the time the client's session hellos carry: the device's (Config.Now),
// corrected by an offset once a gateway answered a hello timed with it. A gateway
// ignores hellos more than two minutes from its own clock, and phones in censored
// networks often come back from a shutdown with a clock minutes or hours off; the
// offset comes from an HTTP Date that a bridge or its front sent (see
// failure.ClockOff), and holds only once a session was made with it.
type clock struct {
	device func() time.Time
	offset atomic.Int64 // nanoseconds added to the device's time
}

// off returns the offset in use.
func (k *clock) off() time.Duration { return time.Duration(k.offset.Load()) }

// with returns a clock reading the device's time plus offset.
func (k *clock) with(offset time.Duration) func() time.Time {
	return func() time.Time { return k.device().Add(offset) }
}

// adopt makes offset the one in use and reports whether it changed.
func (k *clock) adopt(offset time.Duration) bool {
	return k.offset.Swap(int64(offset)) != int64(offset)
}
