package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/probes"
	"github.com/umbrella-edge/edge/transports/all"
	"github.com/umbrella-edge/edge/transports/pt"
	"github.com/umbrella-edge/edge/transports/trust"
)

const probeHelp = `
Tests bridge lines from the network this machine is on, as a user's client would use
them, and says for each whether it works and, if not, where and how it failed.

Each line is tested step by step; each step (each echo) has --timeout to finish:
  resolve              the bridge's host name, if it has one (skipped for an IP)
  connect              the TCP connect, or for quic/quicobfs the QUIC handshake
  transport_handshake  TLS (with the JA4 fingerprint of the hello sent), obfs4, the
                       WebSocket upgrade, meek's first poll, the PT program's handshake
  session_handshake    the post-quantum session with the gateway (key= and secret=)
  echo                 5 small round trips through the gateway's built-in probe service
  transfer             24 KiB each way: past the 14-20 KB after which some censors
                       freeze connections
  throughput           a sample of up to 1 MiB, or of 2 s from the first echo back
A failure is named by the step, OONI's failure string (connection_reset,
generic_timeout_error, connection_refused, eof_error, ssl_unknown_authority,
ssl_invalid_certificate, dns_nxdomain_error, ...) and a verdict in words, such as
"reset after the TLS ClientHello: SNI or fingerprint filtering" or "frozen after 16 KB".

Where the lines come from (one of):
  --bridges FILE       bridge lines, one a line ("-" reads them from stdin)
  --config FILE        a client config (its bridges:, ca_file:, pt_programs:), or a
                       gateway config: an operator probes every listener of the gateway
                       from outside, as a user would (the gateway must have run once)

What it prints: progress on stderr (a status line on a terminal, plain lines
otherwise), then a table on stdout, one row per line, and the run's total time. With
--json FILE, one OONI-shaped measurement per line in FILE (docs/probe-format.md).

Privacy: no output ever shows a bridge's secret, key, cert=, pin= or secret path.
Addresses and names are shown as keyed hashes ("#3fa2c1d0e4b5a697", the key drawn for
this run and never written), so you can share the report without burning the bridges
in it; lines are numbered as in your input, so you can tell them apart. Nothing about
your network is added unless you give --probe-cc and --probe-asn.
--include-addresses shows addresses, names and error texts: keep such a report private.

Examples:
  umbrella probe --bridges lines.txt
  umbrella probe --config client.yaml --json report.jsonl --seed-client ~/.local/state/umbrella
  umbrella probe --config /etc/umbrella/gateway.yaml --sequential    # an operator
`

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe", probeHelp, stderr)
	bridgesPath := fs.String("bridges", "", "read bridge lines from `file`, one a line (- for stdin)")
	cfgPath := fs.String("config", "", "take the bridge lines of a client or gateway config `file`")
	jsonPath := fs.String("json", "", "also write OONI-shaped measurements, one a line, to `file`")
	include := fs.Bool("include-addresses", false, "show bridge addresses, names and error texts instead of keyed hashes")
	sequential := fs.Bool("sequential", false, "probe one line at a time: slower, but a censor's per-flow state sees one line at once")
	parallel := fs.Int("parallel", probes.DefaultParallel, "probe this many lines at once")
	timeout := fs.Duration("timeout", probes.DefaultStepTimeout, fmt.Sprintf("bound each step of a line (%v to %v)", probes.MinStepTimeout, probes.MaxStepTimeout))
	seed := fs.String("seed-client", "", "write the best working line into the client state `dir`, so the next client on this network starts with it")
	caFile := fs.String("ca-file", "", "trust the CA certificates of PEM `file` beside the system's (a client config's ca_file)")
	cc := fs.String("probe-cc", "", "the country `code` to put in the measurements (default: none)")
	asn := fs.String("probe-asn", "", "the network's `AS` number to put in the measurements, as AS1234 (default: none)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if err := checkProbeNetwork(*cc, *asn); err != nil {
		fs.Usage()
		return fmt.Errorf("probe: %w", err)
	}
	in, err := loadProbeInput(*bridgesPath, *cfgPath)
	if err != nil {
		fs.Usage()
		return fmt.Errorf("probe: %w", err)
	}
	if *caFile != "" {
		in.caFile = *caFile
	}
	var roots *x509.CertPool // nil: the system's
	if in.caFile != "" {
		if roots, err = trust.LoadCAFile(in.caFile); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
	}
	// pt programs' logs may name addresses: a probe's output shows none.
	reg := all.RegistryWith(all.Options{PT: pt.Config{Binaries: in.ptPrograms, Logger: slog.New(slog.DiscardHandler)}, Roots: roots})
	defer reg.Close()
	if err := probes.Check(reg, in.lines); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if *sequential {
		*parallel = 1
	}
	red := probes.NewRedactor(*include)
	progress := probes.NewProgress(stderr, isTerminal(stderr), red, in.lines)
	cfg := probes.Config{Transports: reg, StepTimeout: *timeout, Parallel: *parallel, OnEvent: progress.Event}
	start := time.Now()
	results := probes.Run(ctx, cfg, in.lines)
	took := time.Since(start)
	progress.Close()

	sum := probes.Summary{Took: took, Parallel: min(max(*parallel, 1), len(in.lines)), StepTimeout: clampTimeout(*timeout)}
	if err := probes.WriteTable(stdout, results, red, sum); err != nil {
		return err
	}
	if *jsonPath != "" {
		report := probes.Report{Start: start, SoftwareVersion: softwareVersion(), ProbeCC: *cc, ProbeASN: *asn,
			Annotations: map[string]string{"mode": modeName(*parallel), "addresses": map[bool]string{true: "included", false: "hashed"}[*include]}}
		if err := writeMeasurements(*jsonPath, report, results, red); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
	}
	if *seed != "" {
		return seedClient(stdout, *seed, in.lines, results, red)
	}
	return nil
}

// probeInput is what to probe, and the local settings that came with it.
type probeInput struct {
	lines      []bridge.Line
	caFile     string
	ptPrograms map[string]string
}

// The shapes OONI gives probe_cc and probe_asn, which docs/probe-format.md's schema
// holds the measurements to.
var (
	countryCode = regexp.MustCompile(`^[A-Z]{2}$`)
	asNumber    = regexp.MustCompile(`^AS[0-9]+$`)
)

func checkProbeNetwork(cc, asn string) error {
	if cc != "" && !countryCode.MatchString(cc) {
		return fmt.Errorf("--probe-cc %q: want a country's two capital letters, as DE", cc)
	}
	if asn != "" && !asNumber.MatchString(asn) {
		return fmt.Errorf("--probe-asn %q: want AS and a number, as AS3320", asn)
	}
	return nil
}

func clampTimeout(d time.Duration) time.Duration {
	return min(max(d, probes.MinStepTimeout), probes.MaxStepTimeout)
}

func modeName(parallel int) string {
	if parallel == 1 {
		return "sequential"
	}
	return "parallel"
}

func writeMeasurements(path string, report probes.Report, results []*probes.Result, red *probes.Redactor) error {
	ms := make([]probes.Measurement, len(results))
	for i, r := range results {
		ms[i] = report.Measurement(r, red)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := probes.WriteJSON(f, ms); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// seedClient writes the best working line into a client's network memory.
func seedClient(stdout io.Writer, dir string, lines []bridge.Line, results []*probes.Result, red *probes.Redactor) error {
	best := probes.Best(results)
	if best < 0 {
		fmt.Fprintf(stdout, "No line worked, so %s was left as it was.\n", dir)
		return nil
	}
	if err := client.Seed(dir, lines, best, results[best].RTT()); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	fmt.Fprintf(stdout, "The next client with state_dir %s and these bridge lines starts with line %d (%s) on this network.\n",
		dir, best+1, red.Bridge(lines[best]))
	return nil
}

// isTerminal reports whether w is a terminal, where progress is drawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// softwareVersion is the module version the binary was built as, or its commit.
func softwareVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}
