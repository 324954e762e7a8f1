package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/probes/censor"
	"github.com/umbrella-edge/edge/transports/quic"
)

// A quicScenario is one of issue 5's censors between the gateway and a client that has
// every bridge line of the lab, the lines the censor must stop first, then those that
// may carry the transfer, then the rest.
type quicScenario struct {
	name     string
	policies func(l *Lab) []censor.Policy
	// hit are the lines the censor must stop; its log must show evidence for each.
	hit      func(l *Lab) []Line
	evidence func(censor.Decision) bool
	// carriers are the lines that may carry the transfer.
	carriers func(l *Lab) []Line
	// only gives the client the lines hit and the carriers alone, so that a carrier
	// is the one line the censor lets through: with every line, the client would try
	// another family before a second line of the one the censor blocked.
	only bool
	// size of the echoed transfer; 0 means transferSize.
	size int
	// headStart is the client's; 0 means its default, the stagger a user gets.
	headStart time.Duration
	// parallel bounds the client's attempts at once; 0 means its default.
	parallel int
	// handshakeTimeout is the client's; 0 means 3 s.
	handshakeTimeout time.Duration
	// check looks further at the client's events, order being its bridge lines.
	check func(order []Line, events []Event) error
}

// slowStart gives each line the time to fail before the next starts, so the line that
// carries is the first the censor lets through, not the fastest of a race.
const slowStart = 5 * time.Second

func quicScenarios() []quicScenario {
	return []quicScenario{{
		// A censor that reassembles the Initials of quic-go (and Chrome), which split
		// the ClientHello so that no one datagram holds the name.
		name:     "sni-quic-reassemble",
		policies: parsed("sni:block=" + ServerName + ":quic-reassemble=true"),
		hit:      func(l *Lab) []Line { return slices.Concat(transport(l, "quic"), directTLS(l)) },
		evidence: func(d censor.Decision) bool {
			return blockedBy("sni")(d) && (d.Flow.Network == "tcp" || strings.Contains(d.Reason, "reassembled"))
		},
		carriers:  func(l *Lab) []Line { return transport(l, "quicobfs") },
		only:      true,
		headStart: slowStart,
	}, {
		// Both UDP lines fail, each by the quic transport's own handshake timeout
		// (scaled to the RTT, 3 s while none is known: less than the client's), and a
		// TCP line carries. One attempt at a time, so that the TCP line starts only
		// once the first UDP one has failed and the events show its failure; with the
		// default stagger, as in scenario_test's udp-block, TCP wins before it fails.
		// The second UDP line, which the client leaves for another family, is tried
		// alone.
		name:     "udp-block-to-tcp",
		policies: parsed("udp-block"),
		hit:      udpLines,
		evidence: blockedBy("udp-block"),
		carriers: func(l *Lab) []Line {
			return linesWhere(l, func(ln Line) bool { return ln.Route.Network == "tcp" })
		},
		parallel:         1,
		handshakeTimeout: 10 * time.Second,
		check: func(order []Line, events []Event) error {
			for _, tr := range []string{"quic", "quicobfs"} {
				failed, _ := attemptSpan(events, tr)
				if failed == nil {
					return fmt.Errorf("no failed %s attempt among the client's events", tr)
				}
				if !errors.Is(failed.Err, quic.ErrHandshake) || errors.Is(failed.Err, context.DeadlineExceeded) {
					return fmt.Errorf("%s failed with %v; want quic.ErrHandshake from the transport's own timeout", tr, failed.Err)
				}
			}
			return nil
		},
	}, {
		// Russia's 2022 rule, on the lab's ports rather than 443.
		name:      "tspu-quic",
		policies:  parsed("tspu-quic:port=any"),
		hit:       func(l *Lab) []Line { return transport(l, "quic") },
		evidence:  blockedBy("tspu-quic"),
		carriers:  func(l *Lab) []Line { return transport(l, "quicobfs") },
		only:      true,
		headStart: slowStart,
	}, {
		// Every TCP route freezes after 16 KB, fronted ones included: the session
		// must leave TCP in the middle of a transfer, for a UDP line, and lose nothing.
		name: "freeze-tcp",
		policies: func(l *Lab) []censor.Policy {
			tcp := linesWhere(l, func(ln Line) bool { return ln.Route.Network == "tcp" })
			return []censor.Policy{&censor.Freeze{Scope: censor.Scope{Routes: routeNamesOf(tcp)}, Min: 16 << 10, Max: 16 << 10}}
		},
		hit:       func(l *Lab) []Line { return routes(l, "tcp") },
		evidence:  froze,
		carriers:  udpLines,
		size:      1 << 20,
		headStart: slowStart,
		check: func(order []Line, events []Event) error {
			if !slices.ContainsFunc(events, func(e Event) bool { return e.Kind == client.EventLost && e.Name == "tcp" }) {
				return fmt.Errorf("the session never lost its tcp carrier")
			}
			if !slices.ContainsFunc(events, func(e Event) bool { return e.Kind == client.EventResumed && Network(e.Name) == "udp" }) {
				return fmt.Errorf("the session never resumed on a UDP line")
			}
			return nil
		},
	}}
}

func TestQUICScenarios(t *testing.T) {
	for _, sc := range quicScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runQUICScenario(t, sc)
		})
	}
}

func runQUICScenario(t *testing.T, sc quicScenario) {
	l := startLab(t, Options{})
	l.Censor.SetPolicies(sc.policies(l)...)
	hit := sc.hit(l)
	order := ordered(l, hit, sc.carriers(l))
	if sc.only {
		order = slices.Concat(hit, sc.carriers(l))
	}
	timeout := cmp.Or(sc.handshakeTimeout, 3*time.Second)
	c, err := l.Client(client.Config{Bridges: bridgesOf(order), HeadStart: sc.headStart, Parallel: sc.parallel,
		HandshakeTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Only keeps a broken row from hanging; nothing is asserted about time.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nclient: %s\ncensor:%s", append(args, story(c.Events()), decisionsOn(l, routeNamesOf(order)))...)
	}

	size := cmp.Or(sc.size, transferSize)
	start := time.Now()
	if err := transfer(ctx, c, size, nil); err != nil {
		fail("transfer of %d KiB: %v", size>>10, err)
	}
	took := time.Since(start)
	st, err := carrierOf(ctx, c)
	if err != nil {
		fail("after the transfer: %v", err)
	}
	carrier, events := order[st.Bridge], c.Events()
	t.Logf("%s: %d KiB echoed and SHA-256-checked, carried by %s, in %v; blocked first: %v",
		sc.name, size>>10, label(carrier), took.Round(time.Millisecond), labels(hit))
	t.Logf("%s: %s", sc.name, attemptTimes(events))
	t.Logf("%s: client: %s", sc.name, story(events))

	if allowed := labels(sc.carriers(l)); !slices.Contains(allowed, label(carrier)) {
		fail("carried by %s; want one of %v", label(carrier), allowed)
	}
	for _, ln := range untried(hit, order, events) {
		events = append(events, touch(ctx, l, ln, timeout)...)
	}
	if missing := waitDecisions(l, routeNamesOf(hit), sc.evidence); len(missing) > 0 {
		fail("%s left %v alone: no such decision in the censor's log", sc.name, missing)
	}
	if sc.check != nil {
		if err := sc.check(order, events); err != nil {
			fail("%v", err)
		}
	}
}

// attemptSpan finds the first attempt on transport and its failure: the failure event
// (nil if it did not fail) and how long after the attempt it came.
func attemptSpan(events []Event, transport string) (*Event, time.Duration) {
	var started time.Time
	for i, e := range events {
		if e.Name != transport {
			continue
		}
		switch {
		case e.Kind == client.EventAttempt && started.IsZero():
			started = e.At
		case e.Kind == client.EventFailed && !started.IsZero():
			return &events[i], e.At.Sub(started)
		}
	}
	return nil, 0
}

// attemptTimes says, for the log, how long each transport's first attempt took to fail
// and when the first session came up, from the client's first attempt.
func attemptTimes(events []Event) string {
	if len(events) == 0 {
		return "no events"
	}
	t0 := events[0].At
	var parts []string
	seen := map[string]bool{}
	for _, e := range events {
		if e.Kind != client.EventAttempt || seen[e.Name] {
			continue
		}
		seen[e.Name] = true
		if failed, after := attemptSpan(events, e.Name); failed != nil {
			parts = append(parts, fmt.Sprintf("%s failed %v after its attempt", e.Name, after.Round(time.Millisecond)))
		}
	}
	for _, e := range events {
		if e.Kind == client.EventActive {
			parts = append(parts, fmt.Sprintf("active on %s %v after the first attempt", e.Name, e.At.Sub(t0).Round(time.Millisecond)))
			break
		}
	}
	for _, e := range events {
		if e.Kind == client.EventResumed {
			parts = append(parts, fmt.Sprintf("resumed on %s %v after the loss", e.Name, e.Took.Round(time.Millisecond)))
		}
	}
	return strings.Join(parts, "; ")
}
