package lab

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/probes/censor"
)

// A coldStart is issue 11's trial: a new user's client, nine bridge lines (one per
// transport, the CDN's through nginx), a censor that leaves little open.
type coldStart struct {
	name     string
	policies func(lines []Line) []censor.Policy
	// carriers are the families that may carry the transfer at its end.
	carriers []string
	size     int
	// clockOff is how far the client's clock is behind.
	clockOff time.Duration
}

func isTCP(ln Line) bool { return ln.Route.Network == "tcp" }

func coldStarts() []coldStart {
	tcpRoutes := func(lines []Line) []string {
		var out []string
		for _, ln := range lines {
			if isTCP(ln) {
				out = append(out, ln.Route.Name)
			}
		}
		return out
	}
	return []coldStart{{
		// Every TCP connection is accepted, its first segment read, then blackholed.
		name:     "only UDP open",
		policies: func(lines []Line) []censor.Policy { return OnlyOpen(lines, func(ln Line) bool { return !isTCP(ln) }) },
		carriers: []string{"udp"},
	}, {
		// Russia's TSPU since 2025, on every TCP route, the CDN's too; UDP is open.
		name: "TCP frozen after 16 KB",
		policies: func(lines []Line) []censor.Policy {
			return []censor.Policy{&censor.Freeze{Scope: censor.Scope{Routes: tcpRoutes(lines)}, Min: 16 << 10, Max: 16 << 10}}
		},
		carriers: []string{"udp"},
		size:     1 << 20,
	}, {
		name:     "only the CDN front open",
		policies: func(lines []Line) []censor.Policy { return OnlyOpen(lines, func(ln Line) bool { return ln.Fronted }) },
		carriers: []string{"cdn"},
	}, {
		// Only TLS whose ClientHello has a browser's JA4 passes: random-looking TCP is
		// dropped (fully encrypted traffic), UDP too.
		name: "only TLS with a browser JA4",
		policies: func([]Line) []censor.Policy {
			return []censor.Policy{&censor.TLSFingerprint{}, &censor.FET{P: 1}, &censor.UDPBlock{}}
		},
		carriers: []string{"tls", "cdn"},
	}, {
		name:     "a clock 10 minutes off",
		policies: func([]Line) []censor.Policy { return nil },
		carriers: []string{"stream-random", "tls", "cdn", "udp"},
		clockOff: 10 * time.Minute,
	}}
}

// TestColdStart runs each trial: the transfer is echoed whole by the family that may
// carry it, and the time from the client's start to the first echoed byte is logged
// (the bench measures it; a test does not judge it).
func TestColdStart(t *testing.T) {
	for _, cs := range coldStarts() {
		t.Run(cs.name, func(t *testing.T) {
			t.Parallel()
			runColdStart(t, cs)
		})
	}
}

func runColdStart(t *testing.T, cs coldStart) {
	l := startLab(t, Options{})
	lines := l.OnePerTransport()
	if len(lines) != 9 {
		t.Fatalf("the lab has %d of the nine lines: %v", len(lines), labels(lines))
	}
	l.Censor.SetPolicies(cs.policies(lines)...)
	// Only keeps a broken row from hanging; nothing is asserted about time.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	c, err := l.Client(client.Config{Bridges: bridgesOf(lines),
		Now: func() time.Time { return time.Now().Add(-cs.clockOff) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nclient: %s\ncensor:%s", append(args, story(c.Events()), decisionsOn(l, routeNamesOf(lines)))...)
	}
	size := max(cs.size, transferSize)
	first, err := echoTimed(ctx, c, size)
	if err != nil {
		fail("transfer of %d KiB: %v", size>>10, err)
	}
	st, err := carrierOf(ctx, c)
	if err != nil {
		fail("after the transfer: %v", err)
	}
	carrier := lines[st.Bridge]
	t.Logf("%s: first echoed byte %v after the client's start; %d KiB echoed whole, carried by %s (%s); client: %s",
		cs.name, first.Sub(start).Round(time.Millisecond), size>>10, label(carrier), Family(carrier), story(c.Events()))
	if !slices.Contains(cs.carriers, Family(carrier)) {
		fail("carried by %s, of the %s family; want one of %v", label(carrier), Family(carrier), cs.carriers)
	}
	if cs.clockOff != 0 {
		checkClockTold(t, c, cs.clockOff)
	}
}

// echoTimed echoes size random bytes through c and checks them by SHA-256; it returns
// when the first byte came back.
func echoTimed(ctx context.Context, c *Client, size int) (time.Time, error) {
	conn, err := c.Dial(ctx, Service)
	if err != nil {
		return time.Time{}, fmt.Errorf("dial %s: %w", Service, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sent := make([]byte, size)
	rand.Read(sent)
	wrote := make(chan error, 1)
	go func() {
		_, err := conn.Write(sent)
		wrote <- err
	}()
	got := make([]byte, size)
	if _, err := io.ReadFull(conn, got[:1]); err != nil {
		return time.Time{}, fmt.Errorf("read the first echoed byte: %w", err)
	}
	first := time.Now()
	if n, err := io.ReadFull(conn, got[1:]); err != nil {
		return first, fmt.Errorf("read the echo: %d of %d bytes, then %w", 1+n, size, err)
	}
	if err := <-wrote; err != nil {
		return first, fmt.Errorf("write: %w", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(sent) {
		return first, fmt.Errorf("the echo of %d bytes differs from what was sent", size)
	}
	return first, nil
}

// checkClockTold checks that the client told how far its clock is behind.
func checkClockTold(t *testing.T, c *Client, behind time.Duration) {
	t.Helper()
	i := slices.IndexFunc(c.Events(), func(e Event) bool { return e.Kind == client.EventClock })
	if i < 0 {
		t.Fatalf("the client never said its clock is off; events: %s", story(c.Events()))
	}
	e := c.Events()[i]
	// A Date has a one-second resolution, and the attempt took a moment.
	if d := e.Skew - behind; d < -5*time.Second || d > 5*time.Second {
		t.Errorf("the client says its clock is %s, want about %s", failure.SkewText(e.Skew), failure.SkewText(behind))
	}
	t.Logf("told: your clock is %s", failure.SkewText(e.Skew))
}
