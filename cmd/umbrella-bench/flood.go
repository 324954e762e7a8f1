package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/umbrella-edge/edge/internal/lab"
)

// Targets of the flood rows (issue 10): a client gets in within a second, and chat
// keeps its p99 round trip under 50 ms, while the gateway is flooded.
const (
	floodAdmitTarget = time.Second
	floodChatTarget  = 50 * time.Millisecond
)

// floodAdmissions is how many new clients per line connect under the flood, one after
// another: more samples than the lab test's, for the rows' percentiles.
const floodAdmissions = 10

// measureFlood runs internal/lab's flood (lab.DefaultFlood: 5,000 idle and 200 junk
// connections a second on the tcp, utls and obfs4 listeners and the websocket
// listener behind the CDN, 100 chatters) and reports how long new clients took to
// get in, and the chatters' round trips, under it.
func measureFlood(ctx context.Context, b *bench) ([]row, error) {
	p := b.progress
	l, err := lab.Start(ctx, lab.Options{Transports: []string{"tcp", "utls", "obfs4", "websocket"}, FirstBytesTimeout: lab.FloodFirstBytesTimeout})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	var lines []lab.Line
	for _, ln := range l.Lines() {
		if slices.Contains([]string{"tcp", "utls", "obfs4", "websocket" + lab.CDNSuffix}, ln.Route.Name) {
			lines = append(lines, ln)
		}
	}
	sc := lab.DefaultFlood(lines)
	sc.Admissions = floodAdmissions
	p.say("  %d idle + %d junk/s connections on %d listeners, %d chatters, %s", sc.Flood.Idle, sc.Flood.JunkRate, len(lines), sc.Chatters, sc.Duration)
	rep, err := l.RunFlood(ctx, sc)
	if err != nil {
		return nil, err
	}
	return floodRows(sc, rep), nil
}

// floodRows turns a flood report into the table's rows: admission time per listener,
// the chat's round trips, and what the flood did.
func floodRows(sc lab.FloodScenario, rep *lab.FloodReport) []row {
	load := fmt.Sprintf("%d idle connections held and %d junk ones opened (%.0f/s) from %d addresses; the gateway closed %d",
		sc.Flood.Idle, rep.Flood.Junked, float64(rep.Flood.Junked)/sc.Duration.Seconds(), len(sc.Flood.Sources), rep.Flood.Closed)
	var rows []row
	for _, ln := range sc.Lines {
		took := latencies(rep.Admitted[ln.Route.Name])
		worst := took.percentile(100)
		how := fmt.Sprintf("%d new clients, one after another, Connect (dial, transport and session handshakes, retries) under %s", len(took), load)
		if failed := countPrefix(rep.AdmitErrs, ln.Route.Name+":"); failed > 0 {
			how += fmt.Sprintf("; **%d did not get in**", failed)
		}
		rows = append(rows, row{
			measure: "Admission under a flood", path: ln.Route.Name,
			result: fmt.Sprintf("p50 %s, max %s", ms(took.percentile(50)), ms(worst)),
			target: "< 1 s", met: targetMet(len(took) > 0 && worst < floodAdmitTarget && countPrefix(rep.AdmitErrs, ln.Route.Name+":") == 0),
			how: how,
		})
	}
	var rtts latencies
	sent, echoed, faults := 0, 0, 0
	why := map[string]int{} // a fault is what a user would see: the row says which
	for _, results := range rep.Chat {
		for _, r := range results {
			rtts = append(rtts, r.RTTs...)
			sent, echoed = sent+r.Sent, echoed+r.Received
			if r.Err != nil {
				faults++
				why[r.Err.Error()]++
			}
		}
	}
	faultText := fmt.Sprintf("%d chatters with a fault", faults)
	for _, e := range slices.Sorted(maps.Keys(why)) {
		faultText += fmt.Sprintf(" (%d× %s)", why[e], e)
	}
	rows = append(rows, row{
		measure: "Chat round trip under a flood", path: "100 chatters over the 4 flooded lines, through the censor",
		result: rtts.p50p99(), target: "p99 < 50 ms", met: targetMet(len(rtts) > 0 && rtts.percentile(99) < floodChatTarget && echoed == sent),
		how: fmt.Sprintf("a 64-byte numbered message every %s per chatter, %d sent, %d echoed intact and in order, %s; %s; this process's Go heap+stacks %d MiB → %d MiB at peak (both ends of every connection)",
			sc.Period, sent, echoed, faultText, load, rep.Base.InUse()>>20, rep.Peak.InUse()>>20),
	})
	return rows
}

// countPrefix counts the errors whose text starts with prefix.
func countPrefix(errs []error, prefix string) int {
	n := 0
	for _, err := range errs {
		if strings.HasPrefix(err.Error(), prefix) {
			n++
		}
	}
	return n
}
