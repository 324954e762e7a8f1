// Package transporttest is the conformance suite every transport passes, in the manner
// of golang.org/x/net/nettest: it checks the net.Conn, Dialer and Listener behaviour the
// session layer and the gateway rely on. It is for tests only; nothing ships it.
package transporttest

import (
	"testing"

	"github.com/umbrella-edge/edge/transports"
)

// MakePair builds a fresh listener and a dialer that reaches it, for one subtest. The
// listener should bind "127.0.0.1:0" and the dialer target ln.Addr().String(). The suite
// closes the listener when the subtest ends.
type MakePair func(t *testing.T) (ln transports.Listener, d transports.Dialer)

// Options say what a transport lacks, and how to point its dialer at a peer the suite
// controls. The zero value claims every property and cannot run the dial tests that need
// DialerTo.
type Options struct {
	// DialerTo builds a dialer, with the same arguments as MakePair's, for addr: a
	// loopback peer started by the suite that never completes the transport's
	// handshake. The suite uses it to check that Dial honours its context. Required.
	DialerTo func(t *testing.T, addr string) transports.Dialer

	// Network is what the dialer's carrier runs on: "tcp" (the default) or "udp". It
	// decides which kind of silent peer DialerTo is given.
	Network string

	// NoHalfClose says the transport's conns have no CloseWrite, so one side cannot
	// finish sending while it still reads.
	NoHalfClose bool

	// NoHandshake says Dial returns once the carrier connects, without waiting for the
	// peer to say anything, as plain TCP does: a peer that accepts and stays silent
	// cannot stall it. The suite then checks cancellation only during the connect.
	NoHandshake bool

	// LargeTransfer is how many bytes each side sends at once in the large transfer; 0
	// means 16 MiB (1 MiB with -short). A transport whose channel is narrow by design
	// (a DNS tunnel moves hundreds of KB/s through a real resolver) sets less, still
	// far past the 16–20 KB after which censors freeze flows.
	LargeTransfer int64
}

// Run runs the whole suite on the transport mk builds, one subtest per property:
//
//	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
//		ln, err := tr.Listen(ctx, transports.ListenConfig{Addr: "127.0.0.1:0"})
//		…
//		return ln, dialerTo(t, ln.Addr().String())
//	}, transporttest.Options{DialerTo: dialerTo})
//
// Run checks for leaked goroutines, so the calling test must not run in parallel with
// others. With -short the large transfer is 1 MiB each way instead of 16 MiB, unless
// Options.LargeTransfer says otherwise.
func Run(t *testing.T, mk MakePair, opts Options) {
	t.Helper()
	s := &suite{mk: mk, opts: opts}
	for _, c := range s.cases() {
		t.Run(c.name, c.run)
	}
}

type suite struct {
	mk   MakePair
	opts Options
}

type testCase struct {
	name string
	run  func(t *testing.T)
}

func (s *suite) cases() []testCase {
	cs := []testCase{
		{"RoundTrip", s.testRoundTrip},
		{"LargeTransfer", s.testLargeTransfer},
		{"ConcurrentConns", s.testConcurrentConns},
		{"Close", s.testClose},
		{"ConcurrentMethods", s.testConcurrentMethods},
		{"Deadlines", s.testDeadlines},
		{"DialContext", s.testDialContext},
		{"Listener", s.testListener},
	}
	if !s.opts.NoHalfClose {
		cs = append(cs, testCase{"HalfClose", s.testHalfClose})
	}
	return cs
}
