package transports

import (
	"context"
	"time"
)

// A Trace is told how far a Dial got, as net/http/httptrace tells an HTTP client: a
// client that races bridges scales an attempt's deadline to the round trip its connect
// measured, and names the step at which an attempt failed; the probe tool times each
// step and reports the TLS fingerprint a censor saw. Every hook may be nil, must
// return quickly, and may be called more than once in a dial.
type Trace struct {
	// Connected is called once the carrier's path to the bridge is up, before the
	// transport's own handshake: a TCP connect (rtt is how long it took, about one
	// round trip), or a QUIC handshake (rtt is QUIC's smoothed estimate). A transport
	// that reaches its bridge through a local program (pt) does not call it.
	Connected func(network string, rtt time.Duration)
	// TLSHandshakeStart is called when a TLS ClientHello is about to go out over TCP,
	// with the server name it carries and the hello's JA4 fingerprint (FoxIO's, the
	// one censors' allow lists use). QUIC's TLS runs inside its handshake, under
	// Connected, and does not call it.
	TLSHandshakeStart func(serverName, ja4 string)
	// TLSHandshakeDone is called when that handshake has ended: err is nil when it
	// succeeded, and wraps a *trust.Error when the server's certificate was refused.
	TLSHandshakeDone func(err error)
}

type traceKey struct{}

// WithTrace returns ctx carrying t to the Dials it is given; a nil t removes the trace
// ctx carried, for a dial that is not to the bridge itself.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

func traceOf(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// Connected tells ctx's trace, if any, that a carrier's path is up. DialTCP calls it;
// a transport whose path is not a TCP connect (QUIC) calls it itself.
func Connected(ctx context.Context, network string, rtt time.Duration) {
	if t := traceOf(ctx); t != nil && t.Connected != nil {
		t.Connected(network, rtt)
	}
}

// TLSHandshakeStart tells ctx's trace, if any, that a TLS handshake for serverName
// begins. ja4 is called only when the trace has the hook, since building the
// fingerprint costs a hello of its own.
func TLSHandshakeStart(ctx context.Context, serverName string, ja4 func() string) {
	if t := traceOf(ctx); t != nil && t.TLSHandshakeStart != nil {
		t.TLSHandshakeStart(serverName, ja4())
	}
}

// TLSHandshakeDone tells ctx's trace, if any, that the TLS handshake ended with err.
func TLSHandshakeDone(ctx context.Context, err error) {
	if t := traceOf(ctx); t != nil && t.TLSHandshakeDone != nil {
		t.TLSHandshakeDone(err)
	}
}
