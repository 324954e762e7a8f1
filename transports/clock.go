package transports

import (
	"context"
	"time"
)

type clockKey struct{}

// WithClock returns ctx carrying the clock that the Dials it is given stamp their
// first flights with (quicobfs's Initials carry the time, which the listener checks
// against its own). A client that found its device clock minutes off passes the
// corrected clock, so that every transport agrees with the session's hello.
func WithClock(ctx context.Context, now func() time.Time) context.Context {
	return context.WithValue(ctx, clockKey{}, now)
}

// Clock returns the clock ctx carries, or time.Now.
func Clock(ctx context.Context) func() time.Time {
	if now, _ := ctx.Value(clockKey{}).(func() time.Time); now != nil {
		return now
	}
	return time.Now
}
