package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/internal/unboundtest"
	"github.com/umbrella-edge/edge/probes/censor"
)

// The dns transport is measured where it runs: through Debian's unbound, with the
// censor simulator between client and resolver, beside raw TCP through the same censor,
// at loopback's round trip and with 100 ms added by the censor's delay policy (50 ms
// each way), the latency of dnstt's published test.
var dnsDelays = []time.Duration{0, 100 * time.Millisecond}

// A dns transfer starts growing from dnsStart, and lasts dnsLonger times -duration: a
// DNS tunnel moves hundreds of KB/s, so the other transports' 16 MiB warm-up would
// take a minute, and the first seconds, while the queries in flight grow, would weigh
// too much in a short one (dnstt's figure is from a 10 MB download).
const (
	dnsStart  = 256 << 10
	dnsLonger = 3
)

// dnsttDoH is the published figure to compare with: dnstt downloading a 10 MB file
// over DoH through Google's and Cloudflare's resolvers, about 100 ms from its server,
// at 135.1 and 133.5 KB/s (KB of 1024 bytes; median of 5 trials, 2020-04-30,
// https://www.bamsoftware.com/software/dnstt/performance.html).
const dnsttDoH = "dnstt: 133–135 KiB/s downloading over DoH through Google and Cloudflare at ~100 ms RTT"

// measureDNS measures throughput and 1 KiB round trips through the dns transport and
// raw TCP at each of dnsDelays, and the time a new user's client takes to connect in a
// shutdown that lets only DNS to one resolver through.
func measureDNS(ctx context.Context, b *bench) ([]row, error) {
	if b.dnsBridge == nil {
		return nil, errors.New("the in-process gateway has no dns listener (see -transports)")
	}
	w, err := startResolverWorld(ctx, b)
	if err != nil {
		return nil, err
	}
	defer w.close()
	var rows []row
	for _, rtt := range dnsDelays {
		var policies []censor.Policy
		if rtt > 0 {
			policies = []censor.Policy{&censor.Delay{Up: rtt / 2, Down: rtt / 2}}
		}
		w.censor.SetPolicies(policies...)
		r, err := w.measureAt(ctx, b, rtt)
		rows = append(rows, r...)
		if err != nil {
			return rows, err
		}
	}
	w.censor.SetPolicies()
	r, err := measureShutdownConnect(ctx, b)
	return append(rows, r...), err
}

// resolverWorld is unbound in front of the in-process gateway's dns listener, and a
// censor in front of unbound and of the backends.
type resolverWorld struct {
	censor  *censor.Censor
	unbound *unboundtest.Unbound
	bridge  bridge.Line       // the dns line, through the censor and unbound
	raw     map[string]string // service → the censor's route to its backend
	dir     string
	stop    func()
}

func startResolverWorld(ctx context.Context, b *bench) (_ *resolverWorld, err error) {
	w := &resolverWorld{raw: map[string]string{}}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.dir, err = os.MkdirTemp("", "umbrella-bench-unbound-"); err != nil {
		return nil, err
	}
	addrs, err := unboundtest.FreeAddrs("127.0.0.1", "both")
	if err != nil {
		return nil, err
	}
	w.unbound, err = unboundtest.Run(ctx, w.dir, unboundtest.Config{Listen: addrs[0],
		Stubs: map[string]string{b.dnsBridge.Args["domain"]: b.dnsBridge.Addr}})
	if err != nil {
		return nil, err
	}
	routes := []censor.Route{{Name: "dns", Transport: "dns", Network: "udp", Listen: "127.0.0.1:0", Upstream: addrs[0]}}
	for service, addr := range b.backends.services() {
		routes = append(routes, censor.Route{Name: "raw-" + service, Transport: "tcp", Network: "tcp", Listen: "127.0.0.1:0", Upstream: addr})
	}
	if w.censor, err = censor.New(censor.Config{Routes: routes}); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { w.censor.Run(context.Background()); close(done) }()
	w.stop = func() { w.censor.Close(); <-done }
	for _, r := range w.censor.Routes() {
		if r.Name == "dns" {
			// A dns line's hellos are bound to its domain, so it may name any resolver.
			w.bridge = *b.dnsBridge
			w.bridge.Addr = r.Listen
		} else {
			w.raw[r.Name[len("raw-"):]] = r.Listen
		}
	}
	b.progress.say("  unbound on %s in front of the dns listener on %s; the censor relays to it from %s", addrs[0], b.dnsBridge.Addr, w.bridge.Addr)
	return w, nil
}

func (w *resolverWorld) close() {
	if w.stop != nil {
		w.stop()
	}
	if w.unbound != nil {
		w.unbound.Stop()
	}
	if w.dir != "" {
		os.RemoveAll(w.dir)
	}
}

// paths are raw TCP through the censor and the dns line through the censor and unbound.
func (w *resolverWorld) paths(b *bench) ([]path, error) {
	var d net.Dialer
	c, err := client.New(client.Config{Bridges: []bridge.Line{w.bridge}, Transports: b.registry})
	if err != nil {
		return nil, err
	}
	return []path{{
		name: rawTCP + " through the censor",
		open: func(ctx context.Context, service string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", w.raw[service])
		},
		done: func() {},
	}, {name: "dns through unbound", open: c.Dial, done: func() { c.Close() }}}, nil
}

// measureAt takes the rows at one added round trip.
func (w *resolverWorld) measureAt(ctx context.Context, b *bench, rtt time.Duration) ([]row, error) {
	p := b.progress
	paths, err := w.paths(b)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, pt := range paths {
			pt.done()
		}
	}()
	added := fmt.Sprintf(", +%s RTT", rtt)
	if rtt == 0 {
		added = ""
	}
	var rows []row
	for _, dir := range []struct {
		b    byte
		name string
	}{{bulkUp, "DNS tunnel: throughput, upload"}, {bulkDown, "DNS tunnel: throughput, download"}} {
		var base float64
		for i, pt := range paths {
			start, d := int64(warmupSize), b.opts.duration
			if i > 0 {
				start, d = dnsStart, dnsLonger*d
			}
			n, took, err := transferFrom(ctx, pt, dir.b, d, start)
			if err != nil {
				return rows, fmt.Errorf("%s over %s%s: %w", dir.name, pt.name, added, err)
			}
			rate := float64(n) / took.Seconds() / 1024
			p.say("  %s%s, %s: %d KiB in %s = %.0f KiB/s", dir.name, added, pt.name, n>>10, took.Round(time.Millisecond), rate)
			r := row{measure: dir.name + added, path: pt.name, result: fmt.Sprintf("%.0f KiB/s", rate),
				how: fmt.Sprintf("1 stream, %d KiB", n>>10)}
			if i == 0 {
				base = rate
			} else {
				r.baseline = percentOf(rate, base)
				if dir.b == bulkDown && rtt > 0 {
					r.how += "; compare " + dnsttDoH
				}
			}
			rows = append(rows, r)
		}
	}
	for _, pt := range paths {
		ls, err := roundTrips(ctx, p, pt, b.opts.messages)
		if err != nil {
			return rows, fmt.Errorf("round trips over %s%s: %w", pt.name, added, err)
		}
		p.say("  1 KiB round trips%s, %s: %s", added, pt.name, ls.p50p99())
		rows = append(rows, row{measure: "DNS tunnel: 1 KiB message round trip" + added, path: pt.name,
			result: ls.p50p99(), how: fmt.Sprintf("%d messages, one at a time, to echo", len(ls))})
	}
	return rows, nil
}

// measureShutdownConnect times new users' clients, each with the nine lines of issue
// 11's trial and a dns line, from their start to the first echoed byte, in the lab's
// shutdown: the censor lets DNS to the lab's resolver through and nothing else.
func measureShutdownConnect(ctx context.Context, b *bench) ([]row, error) {
	p, o := b.progress, b.opts
	l, err := lab.Start(ctx, lab.Options{Resolver: true, AllowMissing: true})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	lines := l.OnePerTransport()
	var bridges []bridge.Line
	for _, ln := range l.Lines() {
		if ln.ViaResolver {
			lines = append(lines, ln)
		}
	}
	for _, ln := range lines {
		bridges = append(bridges, ln.Bridge)
	}
	resolver, err := netip.ParseAddrPort(l.Resolver)
	if err != nil {
		return nil, fmt.Errorf("the lab's resolver %q: %w", l.Resolver, err)
	}
	l.Censor.SetPolicies(&censor.Whitelist{DNS: resolver})
	var took latencies
	carried := map[string]int{}
	count := p.counter("connects in a shutdown", o.coldRuns)
	for run := range o.coldRuns {
		d, via, err := coldStart(ctx, l, bridges)
		if err != nil {
			return nil, fmt.Errorf("shutdown, run %d: %w", run+1, err)
		}
		took = append(took, d)
		carried[via]++
		count.tick(run + 1)
	}
	p.say("  shutdown: median %s, max %s", sec(took.percentile(50)), sec(took.percentile(100)))
	return []row{{
		measure: "Shutdown (DNS to one resolver only) → first echoed byte",
		path:    fmt.Sprintf("new client with %d bridge lines (one per transport and dns), through the censor", len(lines)),
		result:  fmt.Sprintf("median %s, max %s", sec(took.percentile(50)), sec(took.percentile(100))),
		how: fmt.Sprintf("%d runs, a fresh client each; every other flow dropped after its first segment; carried by %s",
			o.coldRuns, tally(carried)),
	}}, nil
}
