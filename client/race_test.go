package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/client/failure"
)

// attempts returns the bridges attempted, in order, the failed ones, and the winner.
func attempts(evs []client.Event) (tried, failed []int, active int) {
	active = -1
	for _, e := range evs {
		switch e.Kind {
		case client.EventAttempt:
			tried = append(tried, e.Bridge)
		case client.EventFailed:
			failed = append(failed, e.Bridge)
		case client.EventActive:
			active = e.Bridge
		}
	}
	slices.Sort(failed)
	return tried, failed, active
}

func TestRaceStartsBridgesInTurnAndTheFirstSessionWins(t *testing.T) {
	const (
		forever = time.Hour
		short   = time.Millisecond
	)
	for _, tc := range []struct {
		name string
		// kinds of bridges in config order: "good", "refused", "silent"
		bridges   []string
		headStart time.Duration
		timeout   time.Duration
		tried     []int
		failed    []int
		// failedByThen: failed may be missing from the events when the winner came
		// first (the race reports failures it saw before the win, not after).
		failedByThen bool
		active       int
	}{
		{"a refused bridge gives way at once", []string{"refused", "good"}, forever, forever,
			[]int{0, 1}, []int{0}, false, 1},
		// HandshakeTimeout, below the round trips' 1.5 s floor, bounds the silent bridge;
		// it also bounds the good one, whose handshake takes milliseconds.
		{"a silent bridge keeps the next waiting until it times out",
			[]string{"silent", "good"}, forever, time.Second, []int{0, 1}, []int{0}, false, 1},
		{"a bridge silent after its connect times out in round trips, not HandshakeTimeout",
			[]string{"silent", "good"}, forever, forever, []int{0, 1}, []int{0}, false, 1},
		{"after the head start the next bridge races a silent one and wins",
			[]string{"silent", "good"}, short, forever, []int{0, 1}, nil, false, 1},
		// The good bridge starts when the refused one fails or when its head start
		// passes, whichever the race sees first; it may win before the failure is seen.
		{"silent, refused, good: all started, the good one wins",
			[]string{"silent", "refused", "good"}, short, forever, []int{0, 1, 2}, []int{1}, true, 2},
		{"the first good bridge wins; later ones never start",
			[]string{"good", "good", "refused"}, forever, forever, []int{0}, nil, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			good := startGateway(t)[0]
			var bridges []bridge.Line
			var silents []*silent
			for _, kind := range tc.bridges {
				switch kind {
				case "good":
					bridges = append(bridges, good)
				case "refused":
					bridges = append(bridges, refusedBridge(t, good))
				case "silent":
					b, s := silentBridge(t, good)
					bridges = append(bridges, b)
					silents = append(silents, s)
				}
			}
			rec := newRecorder()
			c, err := client.New(client.Config{
				Bridges: bridges, Transports: registry(t), OnEvent: rec.on,
				HeadStart: tc.headStart, HandshakeTimeout: tc.timeout,
				Network: func() string { return "test" },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
			defer cancel()
			if err := c.Connect(ctx); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			rec.waitFor(t, client.EventActive) // Connect may return before it is told
			tried, failed, active := attempts(rec.all())
			failedOK := slices.Equal(failed, tc.failed) || tc.failedByThen && len(failed) == 0
			if !slices.Equal(tried, tc.tried) || !failedOK || active != tc.active {
				t.Errorf("tried %v, failed %v, active %d; want tried %v, failed %v, active %d\nevents: %s",
					tried, failed, active, tc.tried, tc.failed, tc.active, describe(rec.all()))
			}
			if got, want := c.Active(), bridges[tc.active].Transport; got != want {
				t.Errorf("Active() = %q, want %q", got, want)
			}
			causes := map[string]failure.Cause{"silent": failure.Silent, "refused": failure.Refused}
			for _, e := range rec.all() {
				var fe *failure.Error
				if e.Kind == client.EventFailed && (!errors.As(e.Err, &fe) || fe.Cause != causes[tc.bridges[e.Bridge]]) {
					t.Errorf("bridge %d (%s) failed with %v, want cause %v", e.Bridge, tc.bridges[e.Bridge], e.Err, causes[tc.bridges[e.Bridge]])
				}
			}
			for _, s := range silents {
				s.waitClosed(t, 1) // a loser or a timed-out bridge: either way, closed
			}
		})
	}
}

func TestRaceKeepsAtMostParallelAttempts(t *testing.T) {
	checkLeaks(t)
	good := startGateway(t)[0]
	var bridges []bridge.Line
	for range 5 {
		b, _ := silentBridge(t, good)
		bridges = append(bridges, b)
	}
	bridges = append(bridges, good)
	rec := newRecorder()
	const parallel = 2
	c, err := client.New(client.Config{
		Bridges: bridges, Transports: registry(t), OnEvent: rec.on,
		HeadStart: time.Millisecond, HandshakeTimeout: 200 * time.Millisecond, Parallel: parallel,
		Network: func() string { return "test" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	rec.waitFor(t, client.EventActive)
	// Every silent bridge times out with a failure event, so attempts minus failures
	// is the number in flight.
	inFlight, most := 0, 0
	for _, e := range rec.all() {
		switch e.Kind {
		case client.EventAttempt:
			inFlight++
			most = max(most, inFlight)
		case client.EventFailed:
			inFlight--
		}
	}
	if most != parallel {
		t.Errorf("at most %d attempts in flight, want %d\nevents: %s", most, parallel, describe(rec.all()))
	}
	if c.Active() != "tcp" {
		t.Errorf("Active() = %q after the silent bridges", c.Active())
	}
}
