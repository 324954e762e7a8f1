package session

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// A stream's credit follows the gateway's budget: its window grows while the budget is
// roomy, stops growing once it is tight, and shrinks to slowWindow for a session over
// its share. The test sends exactly the credit the client has, waits until it has all
// arrived, and reads it in one Read, which is when a window grows.
func TestMuxCreditFollowsTheBudget(t *testing.T) {
	const limit = 2 << 20 // two sessions: a share of 1 MiB
	tests := []struct {
		name        string
		others      int // what the idle session holds
		own         int // what this session holds besides the stream
		wantWindow  uint64
		wantGranted uint64
	}{
		{"roomy: the window grows", 0, 0, 2 * streamWindow, streamWindow + 2*streamWindow},
		{"tight: no window grows", limit/2 + chunkSize, 0, streamWindow, 2 * streamWindow},
		{"slowed: credit within slowWindow", 0, limit * 3 / 4, streamWindow, streamWindow + slowWindow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			b := NewBudget(limit, nil)
			acct := b.open(ID{}, func(error) {})
			b.open(ID{}, func(error) {}).take(tt.others)
			p := newLimitedMuxPair(t, 64<<10, muxLimits{acct: acct})
			defer p.close(nil)
			c, s := muxOpenPair(t, p, "sink") // before it holds more: a slowed session opens nothing
			acct.take(tt.own)
			if _, err := c.Write(randomBytes(streamWindow)); err != nil {
				t.Fatal(err)
			}
			waitArrived(t, s, streamWindow)
			if _, err := io.ReadFull(s, make([]byte, streamWindow)); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			window, granted := s.window, s.granted
			s.mu.Unlock()
			if window != tt.wantWindow || granted != tt.wantGranted {
				t.Errorf("after reading %d bytes: window %d, granted up to %d; want %d and %d",
					streamWindow, window, granted, tt.wantWindow, tt.wantGranted)
			}
			if held := acct.held.Load(); held != int64(tt.own) {
				t.Errorf("with everything read the session holds %d bytes, want the %d it held before", held, tt.own)
			}
		})
	}
}

// The gateway resets a stream the client opens when the session is slowed, or when it
// opens streams faster than its limit; the clock is the test's.
func TestMuxRefusesOpens(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name       string
		slowed     bool
		at         []time.Duration // when each open comes, after start
		wantOK     []bool
		wantRate   uint64
		wantMemory uint64
	}{
		{"a burst within the limit", false, []time.Duration{0, 0, 0}, []bool{true, true, true}, 0, 0},
		{"past the burst, reset", false, []time.Duration{0, 0, 0, 0}, []bool{true, true, true, false}, 1, 0},
		{"a token comes back at the rate", false, []time.Duration{0, 0, 0, 0, time.Second / 2}, []bool{true, true, true, false, true}, 1, 0},
		{"a slowed session opens nothing", true, []time.Duration{0, time.Minute}, []bool{false, false}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			b := NewBudget(1<<20, nil)
			acct := b.open(ID{}, func(error) {})
			b.open(ID{}, func(error) {})
			if tt.slowed {
				acct.take(1 << 20)
			}
			now := make(chan time.Time, 1)
			clock := func() time.Time { return <-now }
			p := newLimitedMuxPair(t, 64<<10, muxLimits{acct: acct, opens: newOpenLimiter(2, 3, clock)})
			defer p.close(nil)
			for i, at := range tt.at {
				if !tt.slowed {
					now <- start.Add(at)
				}
				c, err := p.client.open(context.Background(), "chat")
				if err != nil {
					t.Fatal(err)
				}
				if tt.wantOK[i] {
					if _, err := p.server.accept(context.Background()); err != nil {
						t.Fatalf("open %d: %v", i+1, err)
					}
					continue
				}
				if _, err := c.Read(make([]byte, 1)); !isReset(err) {
					t.Fatalf("open %d: read %v, want a reset", i+1, err)
				}
			}
			if st := b.Stats(); st.RefusedRate != tt.wantRate || st.RefusedMemory != tt.wantMemory {
				t.Errorf("refused %d for the rate and %d for memory, want %d and %d",
					st.RefusedRate, st.RefusedMemory, tt.wantRate, tt.wantMemory)
			}
		})
	}
}

// A gateway mux that ends gives its streams' buffers back at once, accepted or not,
// drops what still arrives, and fails reads, so that a backend is not told that what
// it got was whole.
func TestMuxEndReleasesTheBudget(t *testing.T) {
	checkGoroutines(t)
	b := NewBudget(16<<20, nil)
	acct := b.open(ID{}, func(error) {})
	p := newLimitedMuxPair(t, 1<<20, muxLimits{acct: acct})
	defer p.close(nil)
	accepted, s := muxOpenPair(t, p, "accepted")
	waiting, err := p.client.open(context.Background(), "waiting")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*muxStream{accepted, waiting} {
		if _, err := c.Write(randomBytes(streamWindow / 2)); err != nil {
			t.Fatal(err)
		}
	}
	waitArrived(t, s, streamWindow/2)
	p.server.close(ErrClosed)
	if _, err := accepted.Write(randomBytes(streamWindow / 2)); err != nil {
		t.Fatal(err)
	}
	accepted.CloseWrite()
	waitFinished(t, s)
	if used := b.Stats().Used; used != 0 {
		t.Errorf("after the gateway's mux ended its buffers hold %d bytes", used)
	}
	if n, err := s.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("read after the gateway's mux ended, with the peer's FIN in: %d, %v; want ErrClosed", n, err)
	}
}

// waitFinished waits until s has the peer's FIN, on the stream's own signal.
func waitFinished(t *testing.T, s *muxStream) {
	t.Helper()
	timeout := time.After(hangTimeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.finIn {
		wait := s.readable.wait()
		s.mu.Unlock()
		select {
		case <-wait:
		case <-timeout:
			s.mu.Lock()
			t.Fatalf("no FIN within %v", hangTimeout)
		}
		s.mu.Lock()
	}
}

func TestOpenLimiterRefillsAtItsRate(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	l := newOpenLimiter(4, 2, nil)
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {0, true}, {0, false}, // the burst
		{100 * time.Millisecond, false}, {250 * time.Millisecond, true}, // one token in 250 ms
		{-time.Second, false},                                                         // a clock that steps back gives nothing
		{10 * time.Second, true}, {10 * time.Second, true}, {10 * time.Second, false}, // never more than the burst
	}
	for i, s := range steps {
		if got := l.allowAt(start.Add(s.at)); got != s.want {
			t.Fatalf("step %d at %v: allowed %v, want %v", i, s.at, got, s.want)
		}
	}
}

// A slowed session's sends wait while MinResumeBuffer is unacknowledged, whatever its
// own bound; a session within its share keeps its bound.
func TestLinkRoomShrinksForASlowedSession(t *testing.T) {
	const unacked = 150 * kib
	tests := []struct {
		name     string
		limit    int64
		wantRoom int
	}{
		{"within its share", 16 << 20, 1<<20 - unacked},
		{"slowed", 256 * kib, 0}, // two sessions: a share of 128 KiB
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBudget(tt.limit, nil)
			l := newLink(1<<20, b.open(ID{}, func(error) {}))
			b.open(ID{}, func(error) {})
			if err := l.appendFrame(make([]byte, unacked)); err != nil {
				t.Fatal(err)
			}
			room, err := l.waitRoom(1, closedChan)
			if tt.wantRoom == 0 {
				if err != errWaitCancelled {
					t.Fatalf("waitRoom with %d bytes unacknowledged: room %d, %v; want a wait", unacked, room, err)
				}
				return
			}
			if room != tt.wantRoom || err != nil {
				t.Fatalf("waitRoom: room %d, %v; want %d", room, err, tt.wantRoom)
			}
		})
	}
}
