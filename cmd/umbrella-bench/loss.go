package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
)

// The loss step measures the UDP transports beside TCP ones where packets are lost:
// each path's download rate and 1 KiB round trips over a veth link into a network
// namespace that holds the gateway and its backends, the link dropping lossRates of
// packets each way.
var (
	lossRates      = []int{0, 1, 5} // percent; 0 is the same link without loss, for reference
	lossTransports = []string{"tcp", "utls", "quic", "quicobfs"}
)

const (
	// lossDownloadFor is each download's length; with five paths and three rates it
	// keeps the step near two minutes.
	lossDownloadFor = 3 * time.Second
	// lossMessages are the round trips per path and rate; roundTrips stops sooner at
	// its budget, which 5 % loss and TCP's 200 ms minimum RTO can reach.
	lossMessages = 400
	// lossChildEnv, when set in the environment, makes the bench binary the loss
	// step's gateway child, run inside the namespace by `ip netns exec`.
	lossChildEnv = "UMBRELLA_BENCH_LOSS_CHILD"
)

// lossChildSetup is what the bench tells the child on stdin; the child then holds
// stdin open and exits when it closes.
type lossChildSetup struct {
	Listen     string   `json:"listen"` // the namespace's address on the veth link
	Transports []string `json:"transports"`
}

// lossChildReady is what the child answers on stdout: raw TCP backends on the link,
// and its bridge lines (secrets included: a pipe only, never argv or logs).
type lossChildReady struct {
	Echo    string   `json:"echo"`
	Bulk    string   `json:"bulk"`
	Bridges []string `json:"bridges"`
}

func measureLoss(ctx context.Context, b *bench) ([]row, error) {
	p := b.progress
	names := lossTransports
	if len(b.opts.transports) > 0 {
		names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !slices.Contains(b.opts.transports, n) })
	}
	link, err := newLossLink(ctx)
	if err != nil {
		p.say("  packet loss not measured: %v", err)
		return notMeasured(names, err), nil
	}
	defer link.close()
	p.say("  netns %s: %s ↔ %s, loss by %s", link.ns, link.hostIP, link.nsIP, link.method)
	// quic-go sends batches of datagrams as one UDP GSO packet, which the drop would
	// meet as one: off for this step's clients, as for the child.
	restore := setEnv(quicNoGSO, "true")
	defer restore()
	child, err := startLossChild(ctx, link, names)
	if err != nil {
		return nil, err
	}
	defer child.stop()
	paths, err := lossPaths(b, child.ready)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, pt := range paths {
			pt.done()
		}
	}()
	var rows []row
	for _, rate := range lossRates {
		if err := link.setLoss(ctx, rate); err != nil {
			return rows, err
		}
		var base lossSample
		for _, pt := range paths {
			s, err := measureLossPath(ctx, p, pt)
			if ctx.Err() != nil {
				return rows, ctx.Err()
			}
			if err != nil {
				// A path that breaks under loss is a result too; the others go on.
				p.say("  %d %% loss, %s: %v", rate, pt.name, err)
				rows = append(rows, row{measure: "Download and 1 KiB round trip under " + lossName(rate), path: pt.name,
					result: "failed", how: strings.ReplaceAll(err.Error(), "|", "/") + "; " + link.how(rate)})
				continue
			}
			p.say("  %d %% loss, %s: %.1f MB/s, %s", rate, pt.name, s.mbps, s.trips.p50p99())
			if pt.name == rawTCP {
				base = s
			}
			rows = append(rows, s.rows(pt.name, rate, link, base)...)
		}
	}
	return rows, nil
}

// lossSample is one path's measurement at one loss rate.
type lossSample struct {
	mbps  float64
	trips latencies
	moves int64 // carriers the session lost and replaced meanwhile
}

func measureLossPath(ctx context.Context, p *progress, pt *lossPath) (lossSample, error) {
	before := pt.losses.Load()
	ls, err := roundTrips(ctx, p, pt.path, lossMessages)
	if err != nil {
		return lossSample{}, fmt.Errorf("round trips: %w (carriers lost: %d)", err, pt.losses.Load()-before)
	}
	n, took, err := downloadFor(ctx, pt.path, lossDownloadFor)
	if err != nil {
		return lossSample{}, fmt.Errorf("download: %w (carriers lost: %d)", err, pt.losses.Load()-before)
	}
	return lossSample{mbps: mbps(n, took), trips: ls, moves: pt.losses.Load() - before}, nil
}

func (s lossSample) rows(name string, rate int, link *lossLink, base lossSample) []row {
	tput := row{measure: "Download under " + lossName(rate), path: name, result: fmt.Sprintf("%.1f MB/s", s.mbps),
		how: fmt.Sprintf("1 stream for %s; %s", lossDownloadFor, link.how(rate))}
	rtt := row{measure: "1 KiB round trip under " + lossName(rate), path: name, result: s.trips.p50p99(),
		how: fmt.Sprintf("%d messages, one at a time; %s", len(s.trips), link.how(rate))}
	if s.moves > 0 {
		tput.how += fmt.Sprintf("; the session's watchdog gave up its carrier %d times during both measurements", s.moves)
	}
	if name != rawTCP && len(base.trips) > 0 {
		tput.baseline = percentOf(s.mbps, base.mbps)
		rtt.baseline = fmt.Sprintf("p99 %+.3f ms", float64(s.trips.percentile(99)-base.trips.percentile(99))/float64(time.Millisecond))
	}
	return []row{tput, rtt}
}

func lossName(rate int) string {
	if rate == 0 {
		return "no loss (same link)"
	}
	return fmt.Sprintf("%d %% packet loss", rate)
}

// notMeasured are the rows of a machine that cannot drop packets on a link, saying
// why: a number from another method would not be the same measurement.
func notMeasured(names []string, why error) []row {
	var rows []row
	for _, rate := range lossRates[1:] {
		for _, name := range append([]string{rawTCP}, names...) {
			rows = append(rows, row{measure: "Download and 1 KiB round trip under " + lossName(rate), path: name,
				result: "not measured", how: why.Error()})
		}
	}
	return rows
}

// lossPath is a path that counts the carriers its client lost.
type lossPath struct {
	path
	losses atomic.Int64
}

// lossPaths are raw TCP over the link, then a client per bridge line of the child.
func lossPaths(b *bench, ready lossChildReady) ([]*lossPath, error) {
	var d net.Dialer
	services := map[string]string{serviceEcho: ready.Echo, serviceBulk: ready.Bulk}
	ps := []*lossPath{{path: path{name: rawTCP, done: func() {},
		open: func(ctx context.Context, service string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", services[service])
		}}}}
	for _, line := range ready.Bridges {
		br, err := bridge.Parse(line)
		if err == nil {
			lp := &lossPath{}
			count := func(e client.Event) {
				if e.Kind == client.EventLost {
					lp.losses.Add(1)
				}
			}
			var c *client.Client
			if c, err = client.New(client.Config{Bridges: []bridge.Line{br}, Transports: b.registry, OnEvent: count}); err == nil {
				lp.path = path{name: br.Transport, open: c.Dial, done: func() { c.Close() }}
				ps = append(ps, lp)
				continue
			}
		}
		for _, pt := range ps {
			pt.done()
		}
		return nil, fmt.Errorf("client for the loss child's bridge line: %w", err)
	}
	return ps, nil
}

// downloadFor asks pt's bulk service for more than it can send and reads for d, on a
// fresh stream. It returns the bytes read and the time from the request.
func downloadFor(ctx context.Context, pt path, d time.Duration) (int64, time.Duration, error) {
	conn, err := pt.open(ctx, serviceBulk)
	if err != nil {
		return 0, 0, fmt.Errorf("open bulk stream: %w", err)
	}
	defer conn.Close()
	t0 := time.Now()
	var req [9]byte
	req[0] = bulkDown
	binary.BigEndian.PutUint64(req[1:], maxTransfer)
	if _, err := conn.Write(req[:]); err != nil {
		return 0, 0, fmt.Errorf("send bulk request: %w", err)
	}
	conn.SetReadDeadline(t0.Add(d))
	n, err := io.CopyBuffer(io.Discard, conn, make([]byte, bulkChunk))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return n, time.Since(t0), fmt.Errorf("read the download: %d bytes, then %v", n, err)
	}
	return n, time.Since(t0), nil
}

// quicNoGSO is quic-go's switch for sending without UDP GSO.
const quicNoGSO = "QUIC_GO_DISABLE_GSO"

// setEnv sets an environment variable and returns what puts it back.
func setEnv(key, value string) (restore func()) {
	old, had := os.LookupEnv(key)
	os.Setenv(key, value)
	return func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	}
}
