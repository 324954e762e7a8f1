package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Attempt deadlines. Before a bridge's connect has measured the path, an attempt has
// Config.HandshakeTimeout, or handshakeBudget of the round trip the network is already
// known to have. Once its own TCP connect (or QUIC handshake) measured one, the rest
// (transport and session handshakes) must be done within handshakeBudget of it, so a
// censor that lets the connect through and then drops everything costs a second or two,
// not 15.
const (
	// handshakeRTTs: after the connect, a TLS handshake (one round trip), an HTTP
	// upgrade or a first meek poll (one), the session hello (one), and room for a lost
	// segment's retransmission (an RTO is at least three round trips with RFC 6298's
	// variance term): eight in all.
	handshakeRTTs = 8
	// handshakeFloor suits a slow mobile link, whose round trip swings by hundreds of
	// milliseconds under load and whose first packets wait for the radio to wake.
	handshakeFloor = 1500 * time.Millisecond
)

// handshakeBudget is how long a handshake may take on a path whose round trip is rtt.
func handshakeBudget(rtt time.Duration) time.Duration {
	return max(handshakeRTTs*rtt, handshakeFloor)
}

// maxPatience bounds how often a bridge's budget doubles: eight times the round trips'
// budget (12 s at the floor), below Config.HandshakeTimeout's 15 s default anyway.
const maxPatience = 3

// patience lengthens the budget of a bridge whose server was reached but answered too
// late: it doubles after each such cut and is forgotten once the bridge answers. A
// censor that blackholes a flow after its first segment looks the same, and is let
// through its longer budgets only on a bridge tried again; but a gateway at capacity
// answers late, and clients that cut every attempt at the same short budget would come
// straight back and add to its queue.
type patience struct{ doublings atomic.Int32 }

// budget is handshakeBudget(rtt) doubled for each late answer.
func (p *patience) budget(rtt time.Duration) time.Duration {
	return handshakeBudget(rtt) << p.doublings.Load()
}

// lateAnswer records that the bridge was reached and cut by its budget.
func (p *patience) lateAnswer() {
	if n := p.doublings.Load(); n < maxPatience {
		p.doublings.CompareAndSwap(n, n+1)
	}
}

func (p *patience) answered() { p.doublings.Store(0) }

// errAttemptDeadline is why an attempt was cut short by its deadline.
var errAttemptDeadline = fmt.Errorf("attempt deadline: %w", context.DeadlineExceeded)

// deadline is a context whose deadline can move while it runs: a dial is given it
// before the dial has measured the path.
type deadline struct {
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	at    time.Time
	timer *time.Timer
}

func newDeadline(parent context.Context, at time.Time) *deadline {
	ctx, cancel := context.WithCancelCause(parent)
	d := &deadline{ctx: ctx, cancel: cancel, at: at}
	d.timer = time.AfterFunc(time.Until(at), func() { cancel(errAttemptDeadline) })
	return d
}

// reset moves the deadline to at.
func (d *deadline) reset(at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = at
	d.timer.Reset(time.Until(at))
}

// passed reports whether the deadline, rather than the parent, ended the context.
func (d *deadline) passed() bool { return context.Cause(d.ctx) == errAttemptDeadline }

// err makes an attempt's error say that its deadline passed, when it did.
func (d *deadline) err(err error) error {
	if d.passed() {
		return fmt.Errorf("%w: %w", errAttemptDeadline, err)
	}
	return err
}

func (d *deadline) stop() {
	d.timer.Stop()
	d.cancel(context.Canceled)
}

// earlier and later are min and max for times.
func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
