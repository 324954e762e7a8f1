// Command umbrella-bench measures Umbrella Edge on loopback, side by side with raw TCP:
// throughput, handshake time, message round trips, gateway handshake rate and memory.
// It writes one Markdown table (to -out and stdout) and progress to stderr; `make bench`
// runs it. It is a measuring tool, not a test: targets are reported, never asserted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/umbrella-edge/edge/internal/lab"
)

// options are the knobs of one run; their defaults keep a run to a few minutes on 2 cores.
type options struct {
	out         string
	transports  []string
	duration    time.Duration // per throughput transfer
	handshakes  int           // sequential handshakes per transport
	messages    int           // 1 KiB round trips per path
	rateFor     time.Duration // handshake-rate hammering
	concurrency int           // concurrent handshakes against the child gateway
	sessions    int           // idle sessions for the memory measurement
	kills       int           // kills of the active carrier per kill mode
	coldRuns    int           // cold starts per open family
	jitterFor   time.Duration // the no-false-moves run
	// jitterLongFor is the opt-in long no-false-moves run's (-steps jitter-long).
	jitterLongFor time.Duration
	gatewayBin    string // prebuilt umbrella binary; empty means build one
	steps         map[string]bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv(clientMemoryEnv) != "" {
		if err := runClientMemoryChild(ctx, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "umbrella-bench client child:", err)
			os.Exit(1)
		}
		return
	}
	if os.Getenv(tunnelChildEnv) != "" {
		if err := runTunnelChild(ctx, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "umbrella-bench tunnel child:", err)
			os.Exit(1)
		}
		return
	}
	if os.Getenv(lossChildEnv) != "" {
		if err := runLossChild(ctx, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "umbrella-bench loss child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "umbrella-bench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	prog := newProgress(stderr)
	if limit, err := lab.RaiseFileLimit(65536); err != nil {
		prog.say("could not raise the open-file limit (now %d): %v", limit, err)
	}

	rep := &report{opts: opts, args: args, started: time.Now(), load: loadAverage()}
	b, err := newBench(ctx, opts, prog)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, why := range b.leftOut {
		prog.say("left out: %s", why)
		rep.note("Left out: " + why)
	}

	var todo []step
	for _, s := range steps {
		if opts.steps[s.flag] {
			todo = append(todo, s)
		}
	}
	var failed []string
	for i, s := range todo {
		prog.step(i+1, len(todo), s.name)
		rows, err := s.run(ctx, b)
		rep.add(rows...)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", s.name, ctx.Err())
			}
			prog.say("%s failed: %v", s.name, err)
			rep.failure(s.name, err)
			failed = append(failed, s.name)
		}
	}
	if err := rep.write(stdout, opts.out); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("measurements failed: %s (see the report)", strings.Join(failed, ", "))
	}
	return nil
}

// A step is one measurement; flag is its name in -steps.
type step struct {
	flag, name string
	run        func(context.Context, *bench) ([]row, error)
}

var steps = []step{
	{"throughput", "throughput", measureThroughput},
	{"echo", "echo through a local port, beside shadowsocks, obfs4proxy, crypto/tls and quic-go", measureEcho},
	{"handshake", "handshake time", measureHandshakeTime},
	{"rtt", "message round trip", measureRoundTrip},
	{"rate", "gateway handshake rate", measureHandshakeRate},
	{"memory", "gateway memory per idle session", measureMemory},
	{"failover", "failover time", measureFailover},
	{"coldstart", "cold start with one family of transports open", measureColdStart},
	{"jitter", "false moves on a jittery path", measureJitter},
	{"jitter-long", "false moves on a jittery path, long run", measureJitterLong},
	{"client-memory", "client memory with all transports configured", measureClientMemory},
	{"loss", "throughput and round trips under packet loss", measureLoss},
	{"hoard", "chat and gateway memory beside hoarding sessions", measureHoarding},
	{"flood", "admission and chat under a flood", measureFlood},
	{"dns", "the dns transport through unbound, and connecting in a shutdown", measureDNS},
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("umbrella-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var names, stepNames string
	fs.StringVar(&o.out, "out", "", "also write the Markdown report to this `file`")
	fs.StringVar(&names, "transports", "", "comma-separated transports to measure; empty means every registered one")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "approximate length of each throughput transfer")
	fs.IntVar(&o.handshakes, "handshakes", 200, "sequential session handshakes per transport")
	fs.IntVar(&o.messages, "messages", 5000, "1 KiB round trips per path")
	fs.DurationVar(&o.rateFor, "rate-for", 4*time.Second, "how long to hammer the child gateway with handshakes")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent handshakes against the child gateway")
	fs.IntVar(&o.sessions, "sessions", 10000, "idle sessions opened for the memory measurement")
	fs.IntVar(&o.kills, "kills", 20, "kills of the active carrier per kill mode (silent, reset) for the failover time")
	fs.IntVar(&o.coldRuns, "cold-runs", 10, "cold starts per family of transports left open")
	fs.DurationVar(&o.jitterFor, "jitter-for", 2*time.Minute, "length of the no-false-moves run on a jittery path (half flowing, half idle)")
	fs.DurationVar(&o.jitterLongFor, "jitter-long-for", 10*time.Minute, "length of the opt-in long no-false-moves run (-steps jitter-long)")
	fs.StringVar(&stepNames, "steps", "throughput,echo,handshake,rtt,rate,memory,failover,coldstart,jitter,client-memory,loss,hoard,flood,dns", "comma-separated measurements to run (jitter-long, a 10-minute run, is left out unless named)")
	fs.StringVar(&o.gatewayBin, "gateway-bin", "", "use this umbrella `binary` instead of building ./cmd/umbrella")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: umbrella-bench [flags]\n\nMeasures Umbrella Edge on loopback beside raw TCP and prints a Markdown table.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.transports = splitList(names)
	o.steps = make(map[string]bool)
	for _, n := range splitList(stepNames) {
		if !slices.ContainsFunc(steps, func(s step) bool { return s.flag == n }) {
			return o, fmt.Errorf("-steps: unknown measurement %q", n)
		}
		o.steps[n] = true
	}
	switch {
	case o.handshakes < 1 || o.messages < 1 || o.sessions < 1 || o.concurrency < 1 || o.kills < 1 || o.coldRuns < 1:
		return o, errors.New("-handshakes, -messages, -sessions, -concurrency, -kills and -cold-runs must be positive")
	case o.jitterFor <= 0 || o.jitterLongFor <= 0:
		return o, errors.New("-jitter-for and -jitter-long-for must be positive")
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
