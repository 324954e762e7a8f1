package transports

import (
	"context"
	"time"
)

// A Trace is told how far a Dial got, as net/http/httptrace tells an HTTP client: a
// client that races bridges scales an attempt's deadline to the round trip its connect
// measured, and names the step at which an attempt failed.
type Trace struct {
	// Connected is called once the carrier's path to the bridge is up, before the
	// transport's own handshake: a TCP connect (rtt is how long it took, about one
	// round trip), or a QUIC handshake (rtt is QUIC's smoothed estimate). A transport
	// that reaches its bridge through a local program (pt) does not call it. It must
	// return quickly; a dial may call it more than once.
	Connected func(network string, rtt time.Duration)
}

type traceKey struct{}

// WithTrace returns ctx carrying t to the Dials it is given; a nil t removes the trace
// ctx carried, for a dial that is not to the bridge itself.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// Connected tells ctx's trace, if any, that a carrier's path is up. DialTCP calls it;
// a transport whose path is not a TCP connect (QUIC) calls it itself.
func Connected(ctx context.Context, network string, rtt time.Duration) {
	if t, _ := ctx.Value(traceKey{}).(*Trace); t != nil && t.Connected != nil {
		t.Connected(network, rtt)
	}
}
