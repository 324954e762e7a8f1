package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/probes"
	"github.com/umbrella-edge/edge/probes/censor"
)

// The probe's tests run the umbrella binary through the censor simulator, one policy
// at a time, on a lab with every transport and the CDN: the lines a policy hits must
// fail with the failure string and verdict that name what the censor did, and the
// lines it lets through must be reported working.

// outcome is what the probe must report for a line; ok false means no assertion.
type outcome struct {
	ok      bool
	works   bool
	failure string // OONI's failure string
	step    string // the failed operation; "" for any
	verdict string // a part of the verdict
}

var (
	works      = outcome{ok: true, works: true, verdict: "works"}
	dontCare   = outcome{}
	silentTLS  = outcome{ok: true, failure: "generic_timeout_error", step: probes.StepTransport, verdict: "silent after the TLS ClientHello"}
	noQUIC     = outcome{ok: true, failure: "generic_timeout_error", step: probes.StepConnect, verdict: "no answer to the QUIC handshake"}
	timedOut   = outcome{ok: true, failure: "generic_timeout_error"}
	intercepts = func(failure, step string) outcome {
		return outcome{ok: true, failure: failure, step: step, verdict: "TLS interception"}
	}
)

func TestProbeNamesWhatTheCensorDoes(t *testing.T) {
	bin := buildBinary(t)
	pl := startProbeLab(t)
	for _, tc := range []struct {
		name     string
		policies func(t *testing.T) []censor.Policy
		want     func(lab.Line) outcome
	}{{
		// China's rule against fully encrypted traffic reads TCP's first payload and
		// exempts what starts like TLS or HTTP.
		name:     "fet",
		policies: func(t *testing.T) []censor.Policy { return parsedPolicies(t, "fet:p=1") },
		want: func(ln lab.Line) outcome {
			if pl.raw(ln) && !pl.exempted(ln) {
				return outcome{ok: true, failure: "generic_timeout_error", verdict: "silent after the first packet: dropped (fully encrypted traffic"}
			}
			return works
		},
	}, {
		name: "sni reset",
		policies: func(t *testing.T) []censor.Policy {
			return parsedPolicies(t, "sni:block="+lab.ServerName+":action=reset")
		},
		want: func(ln lab.Line) outcome {
			if pl.direct(ln) && pl.tls(ln) {
				return outcome{ok: true, failure: "connection_reset", step: probes.StepTransport, verdict: "reset after the TLS ClientHello: SNI or fingerprint filtering"}
			}
			return works
		},
	}, {
		name:     "tls-fingerprint",
		policies: func(t *testing.T) []censor.Policy { return parsedPolicies(t, "tls-fingerprint") },
		want: func(ln lab.Line) outcome {
			if ln.Bridge.Args["fp"] == "safari" {
				return silentTLS
			}
			return works
		},
	}, {
		// As in Russia since 2025: connections to a foreign host freeze, a big CDN's
		// do not. The censor freezes TCP only.
		name: "freeze",
		policies: func(*testing.T) []censor.Policy {
			var routes []string
			for _, ln := range pl.lines {
				if pl.direct(ln) && !pl.udp(ln) {
					routes = append(routes, ln.Route.Name)
				}
			}
			return []censor.Policy{&censor.Freeze{Scope: censor.Scope{Routes: routes}}}
		},
		want: func(ln lab.Line) outcome {
			if pl.direct(ln) && !pl.udp(ln) {
				return outcome{ok: true, failure: "generic_timeout_error", verdict: "frozen after"}
			}
			return works
		},
	}, {
		name:     "udp-block",
		policies: func(t *testing.T) []censor.Policy { return parsedPolicies(t, "udp-block") },
		want: func(ln lab.Line) outcome {
			if pl.udp(ln) {
				return noQUIC
			}
			return works
		},
	}, {
		// The gateway's own address is blocked; the CDN in front of it is not.
		name:     "ip-block",
		policies: func(t *testing.T) []censor.Policy { return parsedPolicies(t, "ip-block:addr="+lab.GatewayHost) },
		want: func(ln lab.Line) outcome {
			switch {
			case pl.direct(ln) && pl.udp(ln):
				return noQUIC
			case pl.direct(ln):
				return timedOut
			}
			return works
		},
	}, {
		// The clients trust neither the censor's CA nor any key but the pinned one.
		name:     "mitm",
		policies: func(t *testing.T) []censor.Policy { return parsedPolicies(t, "mitm:names=*") },
		want: func(ln lab.Line) outcome {
			switch {
			case pl.tls(ln) && ln.Fronted:
				return intercepts("ssl_unknown_authority", probes.StepTransport)
			case pl.tls(ln):
				return intercepts("ssl_invalid_certificate", probes.StepTransport)
			case ln.Bridge.Transport == "quic":
				return intercepts("ssl_invalid_certificate", probes.StepConnect)
			}
			return works
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pl.Censor.SetPolicies(tc.policies(t)...)
			po := pl.run(t, bin)
			pl.check(t, po, tc.want)
			switch tc.name {
			case "tls-fingerprint":
				pl.checkJA4(t, po)
			case "mitm":
				// Errors name what was refused and where: with addresses shown, the
				// report still shows no secret.
				pl.check(t, pl.run(t, bin, "--include-addresses"), tc.want)
			}
			t.Logf("%s:\n%s", tc.name, po.stdout)
		})
	}
	t.Run("seed-client", func(t *testing.T) { pl.seedClient(t, bin) })
	t.Run("active-probe", func(t *testing.T) { pl.activeProbe(t, bin) })
}

// seedClient: with China's FET rule up, --seed-client writes the line that reached a
// session soonest, one the rule lets through, into a state directory, and a client
// with that state_dir and the same lines tries that line first, not the tcp line it
// would try first knowing nothing, which the rule blocks.
func (pl *probeLab) seedClient(t *testing.T, bin string) {
	pl.Censor.SetPolicies(parsedPolicies(t, "fet:p=1")...)
	dir := t.TempDir()
	po := pl.run(t, bin, "--seed-client", dir)
	_, after, ok := strings.Cut(po.stdout, "starts with line ")
	var best int
	if _, err := fmt.Sscanf(after, "%d", &best); !ok || err != nil || best < 1 || best > len(pl.lines) {
		t.Fatalf("the probe names no line it seeded:\n%s", po.stdout)
	}
	if ln := pl.lines[best-1]; pl.raw(ln) || !po.ms[best-1].TestKeys.Success {
		t.Fatalf("seeded line %d (%s), which the probe did not report working", best, ln.Route.Name)
	}
	var bridges []bridge.Line
	for _, ln := range pl.lines {
		bridges = append(bridges, ln.Bridge)
	}
	attempts := make(chan int, len(bridges))
	c, err := client.New(client.Config{Bridges: bridges, Transports: pl.Registry, StateDir: dir, HeadStart: time.Hour,
		OnEvent: func(e client.Event) {
			if e.Kind == client.EventAttempt {
				attempts <- e.Bridge
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if first := <-attempts; first != best-1 {
		t.Errorf("the client tried line %d first; the probe seeded line %d", first+1, best)
	}
}

// exempted reports whether the censor let one of ln's flows through by one of the FET
// rule's exemptions: about 0.3 % of random first payloads start with six printable
// bytes, for one.
func (pl *probeLab) exempted(ln lab.Line) bool {
	return slices.ContainsFunc(pl.Censor.Decisions(), func(d censor.Decision) bool {
		return d.Flow.Route == ln.Route.Name && d.Verdict == censor.Pass && strings.HasPrefix(d.Reason, "exempt: ")
	})
}

// checkJA4 holds the JA4 the probe reports for the Safari line to the one the censor
// refused.
func (pl *probeLab) checkJA4(t *testing.T, po probeOutput) {
	t.Helper()
	i := len(pl.lines) - 1
	var ja4 string
	for _, s := range po.ms[i].TestKeys.Steps {
		if s.TLS != nil {
			ja4 = s.TLS.JA4
		}
	}
	refused := slices.ContainsFunc(pl.Censor.Decisions(), func(d censor.Decision) bool {
		return d.Policy == "tls-fingerprint" && d.Verdict == censor.Drop && strings.Contains(d.Reason, "JA4 "+ja4+" ")
	})
	if ja4 == "" || !refused {
		t.Errorf("the probe reports JA4 %q for the Safari line; the censor refused none with it:\n%s", ja4, pl.decisions())
	}
}

// activeProbe: the prober compares each server with an ordinary website and blocks
// those that react otherwise: the gateway's raw listeners, silent by design. Their
// first flows set the probes off and may pass; once the prober has flagged them, the
// probe reports them blocked, and the CDN and the UDP lines, which it does not probe,
// working.
func (pl *probeLab) activeProbe(t *testing.T, bin string) {
	pl.Censor.SetPolicies(&censor.ActiveProbe{Reference: netip.MustParseAddrPort(pl.Website), Wait: time.Second})
	pl.run(t, bin)
	var raw []lab.Line
	for _, ln := range pl.lines {
		if pl.direct(ln) && pl.raw(ln) {
			raw = append(raw, ln)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ln := range raw {
		for !slices.ContainsFunc(pl.Censor.Decisions(), func(d censor.Decision) bool {
			return d.Policy == "active-probe" && d.Verdict == censor.Drop && d.Flow.Upstream.String() == ln.Route.Upstream
		}) {
			select {
			case <-ctx.Done():
				t.Fatalf("the prober never flagged %s's server:\n%s", ln.Route.Name, pl.decisions())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	po := pl.run(t, bin)
	pl.check(t, po, func(ln lab.Line) outcome {
		switch {
		case pl.direct(ln) && pl.raw(ln):
			return timedOut
		case ln.Fronted || pl.udp(ln):
			return works
		}
		return dontCare
	})
	t.Logf("active-probe, once the prober flagged the raw listeners:\n%s", po.stdout)
}

// An operator probes every listener of a running gateway with its config, as a user
// would reach them; a user probes the lines of a client config. Both read the same
// lines: the gateway's, through umbrella bridges' file.
func TestProbeReadsGatewayAndClientConfigs(t *testing.T) {
	bin := buildBinary(t)
	g := startGateway(t, bin, startEcho(t))
	lines, err := exec.Command(bin, "bridges", "--config", g.config).Output()
	if err != nil {
		t.Fatalf("umbrella bridges: %v", err)
	}
	clientConfig := filepath.Join(t.TempDir(), "client.yaml")
	yaml := "bridges:\n  - " + strings.ReplaceAll(strings.TrimSpace(string(lines)), "\n", "\n  - ") + "\nsocks: 127.0.0.1:0\n"
	if err := os.WriteFile(clientConfig, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []string{g.config, clientConfig} {
		out, err := exec.Command(bin, "probe", "--config", cfg, "--sequential").CombinedOutput()
		if err != nil {
			t.Fatalf("umbrella probe --config %s: %v\n%s", filepath.Base(cfg), err, out)
		}
		for _, want := range []string{" tcp ", " utls ", "2 bridge lines in ", "one at a time", "2 work, 0 failed."} {
			if !strings.Contains(string(out), want) {
				t.Errorf("umbrella probe --config %s does not say %q:\n%s", filepath.Base(cfg), want, out)
			}
		}
	}
}
