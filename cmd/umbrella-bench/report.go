package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// row is one line of the results table.
type row struct {
	measure  string // what was measured ("Throughput, upload")
	path     string // "raw TCP", "tcp", "utls", "gateway (tcp)"
	result   string // the number, with its unit
	baseline string // comparison with raw TCP or the anchor the path competes with
	target   string // the project's target, when there is one
	met      string // "yes", "no" or "" when there is no target
	how      string // a short note on method (sizes, counts)
}

// targetMet is the Met column for a measurement with a target.
func targetMet(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

type report struct {
	opts     options
	args     []string
	started  time.Time
	load     string // load average when the run started: other work skews every number
	rows     []row
	notes    []string // said below the header: what was left out and why
	failures []string
}

func (r *report) add(rows ...row) { r.rows = append(r.rows, rows...) }

func (r *report) note(s string) { r.notes = append(r.notes, s) }

func (r *report) failure(step string, err error) {
	r.failures = append(r.failures, fmt.Sprintf("%s: %v", step, err))
}

// write renders the report to stdout and, if path is set, to that file.
func (r *report) write(stdout io.Writer, path string) error {
	text := r.markdown()
	if _, err := io.WriteString(stdout, text); err != nil {
		return err
	}
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Umbrella Edge benchmark\n\n")
	fmt.Fprintf(&b, "Loopback only (127.0.0.0/8); client, gateway and backends share the machine's cores, so\n")
	fmt.Fprintf(&b, "every number is lower than on separate hosts. Targets are shown, never asserted.\n\n")
	for _, kv := range machine() {
		fmt.Fprintf(&b, "- %s: %s\n", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "- Date: %s\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min) when the run started: %s\n", r.load)
	fmt.Fprintf(&b, "- Run took: %s\n", time.Since(r.started).Round(time.Second))
	fmt.Fprintf(&b, "- Reproduce: `make bench` (= `go run ./cmd/umbrella-bench -out bench.md`)")
	if len(r.args) > 0 {
		fmt.Fprintf(&b, "; this run: `go run ./cmd/umbrella-bench %s`", strings.Join(r.args, " "))
	}
	fmt.Fprintf(&b, "\n")
	for _, n := range r.notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	fmt.Fprintf(&b, "\n")

	fmt.Fprintf(&b, "| Measurement | Path | Result | vs baseline | Target | Met | How |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---|---|---|\n")
	for _, row := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			row.measure, row.path, row.result, row.baseline, row.target, row.met, row.how)
	}
	if len(r.failures) > 0 {
		fmt.Fprintf(&b, "\nFailed measurements:\n\n")
		for _, f := range r.failures {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(f, "\n", " "))
		}
	}
	fmt.Fprintf(&b, "\n%s", methods)
	return b.String()
}

// methods explains the table's paths and measurements once, below it.
const methods = `Paths: **raw TCP** is the client talking to the backend directly (the baseline,
a bare percentage in "vs baseline");
every other path is a transport: client → transport → session (hybrid X25519+ML-KEM-768
handshake, AEAD records, a multiplexed stream) → gateway → backend. The gateway is its own front
(internal/lab's loopback arguments): **webtunnel, websocket and meek, which sit behind nginx
or a CDN in production, are measured without nginx**, so their numbers leave out the
front's hop. **pt** is Debian's obfs4proxy as a Tor pluggable transport on both sides.
Throughput and round trips run against an
in-process gateway; handshake rate and memory run against ` + "`umbrella gateway`" + ` as a child
process, whose CPU time (utime+stime from /proc/PID/stat) and memory (VmRSS, and
go_memstats_heap_inuse_bytes + go_memstats_stack_inuse_bytes from its /metrics) are read
separately from the bench's own.

**Echo through a local port** compares each transport with what a user would run
instead, on one harness: the app (the bench) connects to a local port, writes and reads
back at once through one connection, and an echo backend (256 KiB reads and writes)
sends everything back. Ours: ` + "`umbrella client`" + ` with one bridge line and a port
forward, in front of ` + "`umbrella gateway`" + ` with a listener per transport, both child
processes. The anchors: **shadowsocks-libev** (Debian's ss-tunnel → ss-server,
chacha20-ietf-poly1305); **obfs4proxy**'s own client (its SOCKS5 port, the bridge's
cert= in the credentials as Tor passes them) and server (its ORPort the echo backend),
iat-mode=0; a plain **crypto/tls** and a plain **quic-go** tunnel (Go's libraries with
their defaults, one TLS connection or one QUIC connection's stream per app connection,
each side a child process). Each of ours shows its ratio to the anchor it competes with:
tcp and the TLS family (utls, webtunnel, websocket) and meek to shadowsocks-libev, obfs4
and pt to obfs4proxy, quic and quicobfs to quic-go. CPU per GB is the user plus system
time, from /proc, of the client and server sides' processes and their children (the pt
transport's obfs4proxy) during the timed transfer, divided by the bytes echoed; on a
shared machine it moves less than throughput does. The one-stream throughput rows also
run crypto/tls and quic-go tunnels inside the bench, in front of the same backends.

**Failover** runs in internal/lab's world (gateway on 127.0.0.2, the censor simulator on
127.0.0.1 with one route per transport, no nginx): one client holds every bridge line and
an echo stream carrying a 16-byte record every 10 ms; the censor's Kill cuts the flows of
the active transport, and the time runs from the kill to the first echo of a record sent
after it, which only a new carrier can deliver. A silent kill is noticed only by the
client's watchdog: data unacknowledged for max(3·(SRTT + 4·RTTVAR) + 50 ms, 300 ms) makes
it suspect the carrier and dial a spare beside it, and the session resumes on the spare
if the carrier is still stuck once the spare is up (the hard limit, max(4·SRTT + 1 s, 2 s),
drops a carrier with no spare). **Cold start** runs the same world with nginx as the CDN
and a new client holding one bridge line per transport (websocket and meek through
nginx); the censor leaves one family of transports open at a time (stream-random: tcp,
obfs4, pt; tls: utls, webtunnel; cdn: websocket, meek; udp: quic, quicobfs) and drops the
others' flows after their first segment; each run is a fresh client, timed from
client.New to the first byte of an echo. **False moves** delay every route 50 ms ± 25 ms
each way (the censor's delay policy: a 100 ms ± 50 ms round trip), keep an echo stream
busy for half the run and leave the client idle for the other half; any move of the
session off its carrier is false, since nothing was cut. **DNS tunnel** rows run the dns
transport through Debian's unbound (QNAME minimisation on, as by default), with the censor
simulator between the client and unbound, beside raw TCP through the same censor, with no
delay and with 100 ms of round trip added by the delay policy; the shutdown row's clients
hold issue 11's nine lines and a dns line, in the lab, where the censor lets only DNS to
its unbound through. **Client memory** is measured in a child process that holds
nothing but the client: Go heap after a forced GC (runtime.MemStats.HeapAlloc), before
client.New, after it, and with one session and stream open. MB = 10^6 bytes; KiB = 1024 bytes.
`

// machine describes the host, for the report's header.
func machine() [][2]string {
	return [][2]string{
		{"CPU", cpuModel()},
		{"Cores", fmt.Sprintf("%d (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0))},
		{"Memory", memTotal()},
		{"Kernel", firstLine("/proc/sys/kernel/osrelease")},
		{"Go", fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)},
	}
}

func loadAverage() string {
	f := strings.Fields(firstLine("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func cpuModel() string {
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		return v
	}
	return "unknown"
}

func memTotal() string {
	v := procField("/proc/meminfo", "MemTotal")
	var kib int64
	if _, err := fmt.Sscanf(v, "%d kB", &kib); err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
}

func firstLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
