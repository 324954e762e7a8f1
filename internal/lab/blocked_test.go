package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
)

// Issue 3's CDN test: with the gateway's own address unreachable, a client that has
// only a line through the CDN still reaches the backend, over each transport meant to
// sit behind one.
func TestCDNReachesGatewayBehindIPBlock(t *testing.T) {
	l := startLab(t, Options{Policies: parsed("ip-block:addr=" + GatewayHost)(nil)})
	lines := fronted(l)
	if got := labels(lines); !slices.Equal(got, []string{"meek-cdn", "websocket-cdn"}) {
		t.Fatalf("lines through the CDN: %v, want meek-cdn and websocket-cdn", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ln := range lines {
		t.Run(ln.Route.Name, func(t *testing.T) {
			c, err := l.Client(client.Config{Bridges: []bridge.Line{ln.Bridge}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			if err := echo(ctx, c, transferSize); err != nil {
				t.Fatalf("through the CDN with %s blocked: %v", GatewayHost, err)
			}
			t.Logf("%s blocked; %s carried %d KiB via nginx on %s in %v",
				GatewayHost, c.Active(), transferSize>>10, ln.Route.Upstream, time.Since(start).Round(time.Millisecond))
		})
	}
	// The block is real: the gateway's own lines meet it.
	for _, ln := range routes(l, "websocket", "meek") {
		c, err := l.Client(client.Config{Bridges: []bridge.Line{ln.Bridge}, HandshakeTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Connect(ctx); err == nil {
			t.Errorf("%s reached the gateway at %s, which ip-block blocks", ln.Route.Name, ln.Route.Upstream)
		}
		c.Close()
	}
	if missing := waitDecisions(l, []string{"websocket", "meek"}, blockedBy("ip-block")); len(missing) > 0 {
		t.Errorf("no ip-block decision on %v", missing)
	}
}

// With every route blocked, the client says so, naming each bridge, and keeps trying
// in rounds paced by its backoff: each round tries every bridge once, the next starts
// no sooner than the wait it announced, and rounds keep coming. Once the block is
// lifted, it connects.
func TestAllBlockedRetriesWithBackoff(t *testing.T) {
	l := startLab(t, Options{Policies: parsed("ip-block")(nil)})
	bridges := l.Bridges()
	c, err := l.Client(client.Config{
		// Every bridge at once, each given a short while: a round is about 2 s.
		HandshakeTimeout: 2 * time.Second,
		Parallel:         len(bridges),
		HeadStart:        10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	err = c.Connect(ctx)
	var ce *client.ConnectError
	if !errors.As(err, &ce) || !errors.Is(err, client.ErrAllBridgesFailed) {
		t.Fatalf("Connect with every route blocked: %v, want a *client.ConnectError", err)
	}
	checkNamesEveryBridge(t, ce, bridges)
	if _, err := c.Dial(ctx, Service); !errors.As(err, &ce) {
		t.Errorf("Dial while blocked: %v, want the round's *client.ConnectError", err)
	}

	const rounds = 3
	events, err := c.WaitEvents(ctx, func(es []Event) bool { return countKind(es, client.EventBlocked) >= rounds })
	if err != nil {
		t.Fatalf("waiting for %d rounds: %v; events: %s", rounds, err, story(events))
	}
	checkRounds(t, events, len(bridges))
	if st := c.Status(); st.Blocked == nil || st.Transport != "" {
		t.Errorf("Status while blocked: %+v, want Blocked set and no transport", st)
	}
	if missing := waitDecisions(l, routeNamesOf(l.Lines()), blockedBy("ip-block")); len(missing) > 0 {
		t.Errorf("routes the censor never blocked: %v", missing)
	}

	l.Censor.SetPolicies()
	lifted := len(events)
	events, err = c.WaitEvents(ctx, func(es []Event) bool {
		return slices.ContainsFunc(es[lifted:], func(e Event) bool { return e.Kind == client.EventActive })
	})
	if err != nil {
		t.Fatalf("no session after the block was lifted: %v; events: %s", err, story(events[lifted:]))
	}
	if err := echo(ctx, c, 1<<10); err != nil {
		t.Fatalf("echo after the block was lifted: %v", err)
	}
	t.Logf("blocked: %d rounds of %d bridges; lifted: %s", countKind(events, client.EventBlocked), len(bridges), story(events[lifted:]))
	if st := c.Status(); st.Blocked != nil {
		t.Errorf("Status after connecting still reports a block: %v", st.Blocked)
	}
}

// checkNamesEveryBridge checks that ce has one failure per bridge, by index and
// transport, and that its message names each.
func checkNamesEveryBridge(t *testing.T, ce *client.ConnectError, bridges []bridge.Line) {
	t.Helper()
	if len(ce.Failures) != len(bridges) {
		t.Fatalf("ConnectError lists %d failures for %d bridges: %v", len(ce.Failures), len(bridges), ce)
	}
	for i, f := range ce.Failures {
		if f.Bridge != i || f.Transport != bridges[i].Transport || f.Err == nil {
			t.Errorf("failure %d: bridge %d (%s): %v; want bridge %d (%s) with a reason", i, f.Bridge, f.Transport, f.Err, i, bridges[i].Transport)
		}
		if name := fmt.Sprintf("bridge %d (%s)", i, bridges[i].Transport); !strings.Contains(ce.Error(), name) {
			t.Errorf("ConnectError does not name %q: %v", name, ce)
		}
	}
}

// checkRounds checks the pacing of blocked rounds: each round attempts every bridge
// once (no spinning inside a round), and no attempt comes before the wait its round
// announced has passed (no spinning between rounds).
func checkRounds(t *testing.T, events []Event, bridges int) {
	t.Helper()
	attempts := 0
	var blocked *Event
	for i, e := range events {
		switch e.Kind {
		case client.EventAttempt:
			if blocked != nil {
				if early := blocked.At.Add(blocked.Retry).Sub(e.At); early > 0 {
					t.Errorf("an attempt came %v before the announced retry in %v", early, blocked.Retry)
				}
				blocked = nil
			}
			attempts++
		case client.EventBlocked:
			if attempts != bridges {
				t.Errorf("a round made %d attempts, want one per bridge (%d)", attempts, bridges)
			}
			if e.Retry <= 0 {
				t.Errorf("blocked event %d announces a retry in %v", i, e.Retry)
			}
			var ce *client.ConnectError
			if !errors.As(e.Err, &ce) {
				t.Errorf("blocked event %d carries %v, want a *client.ConnectError", i, e.Err)
			}
			attempts, blocked = 0, &events[i]
		}
	}
}

func countKind(events []Event, k client.EventKind) int {
	n := 0
	for _, e := range events {
		if e.Kind == k {
			n++
		}
	}
	return n
}
