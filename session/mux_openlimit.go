package session

import "time"

// Defaults of how fast a gateway session may open streams, for configs that say 0. An
// app behind the client's local proxy (a browser loading a page) opens a few dozen
// connections at once, then a few a second; every open costs the gateway a backend
// dial and, until it is refused or read, a window of memory.
const (
	DefaultStreamOpenBurst = 64
	DefaultStreamOpenRate  = 16 // a second
)

// openLimiter is a token bucket for one session's stream opens: burst at once, then
// rate a second. A nil openLimiter allows everything.
type openLimiter struct {
	rate, burst float64
	tokens      float64
	last        time.Time
	now         func() time.Time // nil means time.Now
}

func newOpenLimiter(rate float64, burst int, now func() time.Time) *openLimiter {
	if rate <= 0 {
		rate = DefaultStreamOpenRate
	}
	if burst <= 0 {
		burst = DefaultStreamOpenBurst
	}
	return &openLimiter{rate: rate, burst: float64(burst), tokens: float64(burst), now: now}
}

// allow takes a token if there is one.
func (l *openLimiter) allow() bool {
	if l == nil {
		return true
	}
	return l.allowAt(nowFunc(l.now))
}

func (l *openLimiter) allowAt(now time.Time) bool {
	if !l.last.IsZero() && now.After(l.last) {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	if l.last.IsZero() || now.After(l.last) {
		l.last = now
	}
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
