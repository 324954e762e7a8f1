package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/internal/lab"
)

// Cold start: issue 11's target is a first echoed byte within coldTarget of a new
// client's start whenever one family of transports gets through; coldGuard only keeps
// a client that never connects from hanging the run.
const (
	coldTarget = 5 * time.Second
	coldGuard  = time.Minute
)

// measureColdStart runs the lab's world with the CDN, and a new user's client holding
// one bridge line per transport (websocket and meek through nginx). For each family of
// transports in turn, the censor leaves only that family's routes open (the others'
// flows are dropped after their first segment, as a shutdown's whitelist does), and
// o.coldRuns fresh clients, with nothing learnt of the network, each time from
// client.New to the first byte of an echo.
func measureColdStart(ctx context.Context, b *bench) ([]row, error) {
	p, o := b.progress, b.opts
	l, err := lab.Start(ctx, lab.Options{AllowMissing: true, Transports: o.transports})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	lines := l.OnePerTransport()
	bridges := make([]bridge.Line, len(lines))
	var families []string
	for i, ln := range lines {
		bridges[i] = ln.Bridge
		if f := lab.Family(ln); !slices.Contains(families, f) {
			families = append(families, f)
		}
	}
	p.say("  %d bridge lines: %s", len(lines), strings.Join(routeNames(lines), ", "))
	var rows []row
	for _, fam := range families {
		l.Censor.SetPolicies(lab.OnlyOpen(lines, func(ln lab.Line) bool { return lab.Family(ln) == fam })...)
		var took latencies
		carried := map[string]int{}
		count := p.counter("cold starts with only "+fam+" open", o.coldRuns)
		for run := range o.coldRuns {
			d, via, err := coldStart(ctx, l, bridges)
			if err != nil {
				return rows, fmt.Errorf("only %s open, run %d: %w", fam, run+1, err)
			}
			took = append(took, d)
			carried[via]++
			count.tick(run + 1)
		}
		worst := took.percentile(100)
		p.say("  only %s open: median %s, max %s", fam, sec(took.percentile(50)), sec(worst))
		rows = append(rows, row{
			measure: "Cold start, only the " + fam + " family open → first echoed byte",
			path:    fmt.Sprintf("new client with %d bridge lines (one per transport), through the censor", len(lines)),
			result:  fmt.Sprintf("median %s, max %s", sec(took.percentile(50)), sec(worst)),
			target:  "max < " + sec(coldTarget), met: targetMet(worst < coldTarget),
			how: fmt.Sprintf("%d runs, a fresh client (nothing learnt) each; other families' routes dropped after their first segment; carried by %s",
				o.coldRuns, tally(carried)),
		})
	}
	return rows, nil
}

// coldStart starts a client of bridges and returns how long it took from its start to
// the first byte of an echo, and the transport that carried it.
func coldStart(ctx context.Context, l *lab.Lab, bridges []bridge.Line) (time.Duration, string, error) {
	start := time.Now()
	c, err := l.Client(client.Config{Bridges: bridges, Network: func() string { return "bench cold start" }})
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, coldGuard)
	defer cancel()
	conn, err := c.Dial(ctx, lab.Service)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var b [1]byte
	if _, err := conn.Write(b[:]); err != nil {
		return 0, "", err
	}
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return 0, "", fmt.Errorf("read the echo: %w", err)
	}
	return time.Since(start), c.Active(), nil
}

func routeNames(lines []lab.Line) []string {
	out := make([]string, len(lines))
	for i, ln := range lines {
		out[i] = ln.Route.Name
	}
	return out
}

// tally prints counts as "quic ×7, quicobfs ×3".
func tally(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(keys, ", ")
}

// sec prints a duration in seconds: "0.812 s".
func sec(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }
