package transporttest

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// hangTimeout bounds every wait in the suite. It only turns a hang into a failure with a
// message; no check depends on anything finishing faster than this. It is a variable
// only so that the suite's own tests can shorten it for transports built to hang.
var hangTimeout = 30 * time.Second

// env is one subtest's listener, dialer and the conns made between them. A watchdog
// closes them all if the subtest outlives twice hangTimeout (a subtest waits for several
// things in turn), so a transport that blocks forever fails the subtest instead of the
// whole test binary.
type env struct {
	t  *testing.T
	ln transports.Listener
	d  transports.Dialer

	mu    sync.Mutex
	conns []net.Conn
	fired atomic.Bool
}

// begin starts a subtest: it arms the goroutine-leak check (its cleanup runs last, after
// everything the subtest opened is closed), builds a pair with mk, and arms the
// watchdog.
func (s *suite) begin(t *testing.T) *env {
	checkLeaks(t)
	e := &env{t: t}
	e.ln, e.d = s.mk(t)
	if e.ln == nil || e.d == nil {
		t.Fatalf("MakePair returned listener %v and dialer %v; want both", e.ln, e.d)
	}
	t.Cleanup(func() { e.ln.Close() })
	e.watch(t)
	return e
}

// watch arms the watchdog for e's conns and listener.
func (e *env) watch(t *testing.T) {
	limit := 2 * hangTimeout
	timer := time.AfterFunc(limit, func() {
		e.fired.Store(true)
		e.closeAll()
	})
	t.Cleanup(func() {
		timer.Stop()
		if e.fired.Load() {
			t.Errorf("subtest still running after %v: closed its listener and conns to unblock it", limit)
		}
	})
}

func (e *env) closeAll() {
	if e.ln != nil {
		e.ln.Close()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.conns {
		c.Close()
	}
}

// track makes c closed when the subtest ends or the watchdog fires.
func (e *env) track(c net.Conn) {
	e.mu.Lock()
	e.conns = append(e.conns, c)
	e.mu.Unlock()
	e.t.Cleanup(func() { c.Close() })
}

// connect dials e's listener and returns both ends. Accept runs alongside Dial, because
// a transport may finish its handshake on either side first.
func (e *env) connect() (client, server net.Conn) {
	e.t.Helper()
	accepted := make(chan acceptResult, 1)
	go func() {
		c, err := e.ln.Accept()
		accepted <- acceptResult{c, err}
	}()
	client = e.dial()
	select {
	case r := <-accepted:
		if r.err != nil {
			e.t.Fatalf("Accept after a successful Dial: %v", r.err)
		}
		e.track(r.conn)
		return client, r.conn
	case <-time.After(hangTimeout):
		e.t.Fatalf("Accept returned nothing within %v of a successful Dial", hangTimeout)
		return nil, nil
	}
}

type acceptResult struct {
	conn net.Conn
	err  error
}

// dial opens one client conn to e's listener; something must be accepting.
func (e *env) dial() net.Conn {
	e.t.Helper()
	ctx, cancel := contextWithHangTimeout(e.t)
	defer cancel()
	c, err := e.d.Dial(ctx)
	if err != nil {
		e.t.Fatalf("Dial: %v", err)
	}
	if c == nil {
		e.t.Fatal("Dial returned a nil conn and no error")
	}
	e.track(c)
	return c
}

// contextWithHangTimeout is the context for operations that should succeed: it ends
// with the subtest, or after hangTimeout.
func contextWithHangTimeout(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), hangTimeout)
}

// wait returns what a blocked operation sent on ch, or fails the subtest if it is
// still blocked after hangTimeout.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangTimeout):
		t.Fatalf("%s still blocked after %v", what, hangTimeout)
		var zero T
		return zero
	}
}

// async runs f in a goroutine and returns a channel that receives its error.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// ioResult is the outcome of one Read or Write.
type ioResult struct {
	n   int
	err error
}

func asyncRead(c net.Conn, buf []byte) <-chan ioResult {
	ch := make(chan ioResult, 1)
	go func() {
		n, err := c.Read(buf)
		ch <- ioResult{n, err}
	}()
	return ch
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// randomBytes returns n bytes that differ between calls, so that misrouted or
// reordered data shows.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rand.Uint32())
	}
	rand.NewChaCha8(seed).Read(b)
	return b
}
