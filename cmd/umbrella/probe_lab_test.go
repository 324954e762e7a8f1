package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/internal/jsonschema"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/probes"
	"github.com/umbrella-edge/edge/probes/censor"
)

// The harness of the probe's end-to-end tests: a lab, the bridges file of its lines,
// runs of the umbrella binary, and the checks every run passes.

// probeLab is the lab the probe runs against, and its lines in the bridges file: every
// lab line, and a utls line with utls's Safari profile, a hello no allow list of
// captured browsers has.
type probeLab struct {
	*lab.Lab
	lines  []lab.Line
	file   string
	schema *jsonschema.Schema
}

func (pl *probeLab) direct(ln lab.Line) bool { return !ln.Fronted }
func (pl *probeLab) udp(ln lab.Line) bool    { return ln.Route.Network == "udp" }
func (pl *probeLab) tls(ln lab.Line) bool {
	return slices.Contains([]string{"utls", "webtunnel", "websocket", "meek"}, ln.Bridge.Transport)
}
func (pl *probeLab) raw(ln lab.Line) bool { return !pl.udp(ln) && !pl.tls(ln) }

func startProbeLab(t *testing.T) *probeLab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	lines := l.Lines()
	// tcp first: a client that knows nothing of the network tries it first, so that
	// a seed's effect shows (seedClient).
	if i := slices.IndexFunc(lines, func(ln lab.Line) bool { return ln.Bridge.Transport == "tcp" }); i > 0 {
		tcp := lines[i]
		lines = append([]lab.Line{tcp}, slices.Delete(lines, i, i+1)...)
	}
	for _, ln := range lines {
		if ln.Bridge.Transport == "utls" {
			ln.Bridge.Args = ln.Bridge.Args.Clone()
			ln.Bridge.Args["fp"] = "safari"
			lines = append(lines, ln)
			break
		}
	}
	var file bytes.Buffer
	for _, ln := range lines {
		file.WriteString(ln.Bridge.String() + "\n")
	}
	pl := &probeLab{Lab: l, lines: lines, file: filepath.Join(t.TempDir(), "bridges.txt")}
	if err := os.WriteFile(pl.file, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if pl.schema, err = jsonschema.FromMarkdown("../../docs/probe-format.md", "## JSON Schema"); err != nil {
		t.Fatal(err)
	}
	return pl
}

// probeTimeout bounds each step in the tests: what a blocked line waits for, and what a
// working one has for a step on a loaded machine (a session handshake took a second,
// echoes 0.9 s each, with the load average at 27 on 2 cores).
const probeTimeout = "5s"

// probeOutput is one run of umbrella probe.
type probeOutput struct {
	stdout, stderr string
	json           []byte
	ms             []probes.Measurement
}

// run runs umbrella probe on the lab's lines, each step within 5 s, all at once, and
// checks that its measurements validate against docs/probe-format.md and that nothing
// it wrote shows a secret or an address.
func (pl *probeLab) run(t *testing.T, bin string, args ...string) probeOutput {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.jsonl")
	args = append([]string{"probe", "--bridges", pl.file, "--ca-file", pl.CAFile, "--json", out,
		"--timeout", probeTimeout, "--parallel", "16"}, args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("umbrella %v: %v\n%s%s", args, err, stdout.String(), stderr.String())
	}
	po := probeOutput{stdout: stdout.String(), stderr: stderr.String()}
	var err error
	if po.json, err = os.ReadFile(out); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(po.json))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if err := pl.schema.Validate(sc.Bytes()); err != nil {
			t.Errorf("a measurement does not validate against docs/probe-format.md: %v\n%s", err, sc.Bytes())
		}
		var m probes.Measurement
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		po.ms = append(po.ms, m)
	}
	if len(po.ms) != len(pl.lines) {
		t.Fatalf("%d measurements for %d lines:\n%s", len(po.ms), len(pl.lines), po.json)
	}
	if slices.Contains(args, "--include-addresses") {
		pl.checkSecretsOnly(t, po)
	} else {
		pl.checkNoSecret(t, po)
	}
	return po
}

// checkSecretsOnly fails for any of the lines' secrets that the run's output holds: a
// report that includes addresses still shows no key, secret, cert=, pin= or secret path.
func (pl *probeLab) checkSecretsOnly(t *testing.T, po probeOutput) {
	t.Helper()
	output := po.stdout + po.stderr + string(po.json)
	for _, ln := range pl.lines {
		b := ln.Bridge
		secrets := []string{string(b.Key), string(b.Secret[:]), bridge.EncodeKey(b.Key), bridge.EncodeKey(b.Secret[:]),
			b.Args["cert"], b.Args["pin"], b.Args["path"]}
		if u, err := url.Parse(b.Args["url"]); err == nil && len(u.Path) > 1 {
			secrets = append(secrets, u.Path)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(output, s) {
				t.Errorf("the probe's output with addresses shows the secret %q of the %s line", s, b.Transport)
			}
		}
	}
	if !strings.Contains(output, lab.ClientHost) {
		t.Errorf("the probe's output with --include-addresses shows no address")
	}
}

// checkNoSecret fails for any byte string of the lines' secrets, addresses or names
// that the run's output holds: the key and the secret (raw and in base64url), every
// argument's value but those that name a profile or a mode (fp=, iat-mode=, method=,
// tls=, ver=), a URL's path, the address and its parts.
func (pl *probeLab) checkNoSecret(t *testing.T, po probeOutput) {
	t.Helper()
	output := po.stdout + po.stderr + string(po.json)
	for _, ln := range pl.lines {
		b := ln.Bridge
		host, port, _ := strings.Cut(b.Addr, ":")
		shown := []string{string(b.Key), string(b.Secret[:]), bridge.EncodeKey(b.Key), bridge.EncodeKey(b.Secret[:]),
			b.String(), b.Redacted(), b.Addr, host}
		// The port alone, as an address shows it: not a JSON number that starts with
		// its digits ("bytes":34279…), which a random port matched once in a while.
		if portShown(output, port) {
			t.Errorf("the probe's output shows port %s of the %s line", port, b.Transport)
		}
		for k, v := range b.Args {
			if !slices.Contains([]string{"fp", "iat-mode", "method", "tls", "ver"}, k) {
				shown = append(shown, v)
			}
			if u, err := url.Parse(v); err == nil && u.Host != "" && len(u.Path) > 1 {
				shown = append(shown, u.Path)
			}
		}
		for _, s := range shown {
			if s != "" && strings.Contains(output, s) {
				t.Errorf("the probe's output shows %q of the %s line", s, b.Transport)
			}
		}
	}
	for _, h := range []string{lab.ClientHost, lab.GatewayHost, lab.CDNHost, lab.ServerName, lab.CDNName, lab.MeekHost, lab.OriginName} {
		if strings.Contains(output, h) {
			t.Errorf("the probe's output shows %q", h)
		}
	}
}

// portShown reports whether output holds ":port" as an address ends: not after a
// quote (a JSON key's colon), not followed by another digit.
func portShown(output, port string) bool {
	return regexp.MustCompile(`(^|[^"])` + regexp.QuoteMeta(":"+port) + `($|[^0-9])`).MatchString(output)
}

// check holds each measurement to the outcome want gives its line.
func (pl *probeLab) check(t *testing.T, po probeOutput, want func(lab.Line) outcome) {
	t.Helper()
	for i, ln := range pl.lines {
		w, m := want(ln), po.ms[i]
		tk := m.TestKeys
		if !w.ok {
			continue
		}
		name := ln.Route.Name + " " + ln.Bridge.Args["fp"]
		got := "works"
		if tk.Failure != nil {
			got = *tk.Failure + " at " + *tk.FailedOperation
		}
		switch {
		case w.works && !tk.Success:
			t.Errorf("%s: %s (%s); want it reported working", name, got, tk.Verdict)
		case !w.works && tk.Success:
			t.Errorf("%s: reported working; want %s", name, w.failure)
		case !w.works && (*tk.Failure != w.failure || w.step != "" && *tk.FailedOperation != w.step):
			t.Errorf("%s: %s (%s); want %s at %s", name, got, tk.Verdict, w.failure, w.step)
		}
		if !strings.Contains(tk.Verdict, w.verdict) {
			t.Errorf("%s: verdict %q; want it to say %q", name, tk.Verdict, w.verdict)
		}
	}
	if t.Failed() {
		t.Logf("table:\n%s\nprogress:\n%s\ncensor:\n%s", po.stdout, po.stderr, pl.decisions())
	}
}

func (pl *probeLab) decisions() string {
	var b strings.Builder
	for _, d := range pl.Censor.Decisions() {
		b.WriteString(d.Time.Format("15:04:05.000") + " " + d.Policy + " " + d.Flow.Route + " " + string(d.Verdict) + " " + d.Reason + "\n")
	}
	return b.String()
}

func parsedPolicies(t *testing.T, specs ...string) []censor.Policy {
	t.Helper()
	var ps []censor.Policy
	for _, s := range specs {
		p, err := censor.ParsePolicy(s)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestPortShown(t *testing.T) {
	tests := []struct {
		output string
		want   bool
	}{
		{"dial tcp 127.0.0.2:34279: connection refused", true},
		{"[::1]:34279", true},
		{"ends with 127.0.0.2:34279", true},
		{`{"bytes":34279,"t":1}`, false}, // a JSON number
		{`{"bytes":342791}`, false},      // another number
		{"127.0.0.2:342790", false},      // another port
		{"took 12:34:27.9", false},       // a time
	}
	for _, tt := range tests {
		if got := portShown(tt.output, "34279"); got != tt.want {
			t.Errorf("portShown(%q, 34279) = %v, want %v", tt.output, got, tt.want)
		}
	}
}
