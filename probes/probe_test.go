package probes_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/internal/ready"
	"github.com/umbrella-edge/edge/probes"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
)

func registry(t *testing.T) *transports.Registry {
	reg, err := transports.NewRegistry(tcp.New())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func run(t *testing.T, cfg probes.Config, lines ...bridge.Line) []*probes.Result {
	t.Helper()
	if cfg.Transports == nil {
		cfg.Transports = registry(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return probes.Run(ctx, cfg, lines)
}

func stepNames(r *probes.Result) []string {
	var names []string
	for _, s := range r.Steps {
		names = append(names, s.Name)
	}
	return names
}

// A line that works goes through every step, in order, and each step says what it
// measured; the events tell each step's start and end.
func TestAWorkingLineRunsEveryStep(t *testing.T) {
	g := lab.StartGateway(t)
	var mu sync.Mutex
	var events []string
	r := run(t, probes.Config{OnEvent: func(e probes.Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, fmt.Sprintf("%s %v", e.Step.Name, e.Done))
	}}, g.Bridge())[0]
	all := []string{probes.StepResolve, probes.StepConnect, probes.StepTransport, probes.StepSession, probes.StepEcho, probes.StepTransfer, probes.StepThroughput}
	if !r.Works() || !slices.Equal(stepNames(r), all) {
		t.Fatalf("works %v, steps %v (failed at %s: %v); want every step: %v", r.Works(), stepNames(r), r.FailedStep, r.Failure, all)
	}
	var want []string
	for _, s := range all {
		want = append(want, s+" false", s+" true")
	}
	if !slices.Equal(events, want) {
		t.Errorf("events %v; want %v", events, want)
	}
	for _, s := range r.Steps {
		switch {
		case s.Name == probes.StepResolve && s.Skipped == "":
			t.Errorf("resolve of the IP address %s was not skipped", g.Bridge().Addr)
		case s.Name == probes.StepConnect && (s.Network != "tcp" || s.RTT <= 0):
			t.Errorf("connect: network %q, rtt %v", s.Network, s.RTT)
		case s.Name == probes.StepEcho && len(s.RTTs) != probes.Echoes:
			t.Errorf("echo: %d round trips, want %d", len(s.RTTs), probes.Echoes)
		case s.Name == probes.StepTransfer && (s.Sent != probes.TransferSize || s.Received != probes.TransferSize):
			t.Errorf("transfer: sent %d, received %d; want %d each way", s.Sent, s.Received, probes.TransferSize)
		case s.Name == probes.StepThroughput && s.Received == 0:
			t.Errorf("throughput: nothing came back")
		}
	}
	if r.Verdict() != "works" || probes.Best([]*probes.Result{r}) != 0 {
		t.Errorf("verdict %q, best %d; want works, 0", r.Verdict(), probes.Best([]*probes.Result{r}))
	}
}

// A gateway without the probe service (an operator turned it off) still gives a
// session: the line works, its data unmeasured, and it is no line to seed a client
// with, since nothing shows that data gets through.
func TestAGatewayWithoutTheProbeServiceLeavesDataUnmeasured(t *testing.T) {
	g := lab.StartGateway(t, func(c *gateway.Config) { c.Probe.Off = true })
	r := run(t, probes.Config{}, g.Bridge())[0]
	if !r.Works() || r.Unmeasured == "" || r.SessionTime() <= 0 {
		t.Fatalf("works %v, unmeasured %q, session in %v; want a session and data unmeasured", r.Works(), r.Unmeasured, r.SessionTime())
	}
	if got := stepNames(r); got[len(got)-1] != probes.StepEcho {
		t.Errorf("steps %v; want them to end at the skipped echo", got)
	}
	if probes.Best([]*probes.Result{r}) != -1 {
		t.Error("an unmeasured line was chosen as the best")
	}
}

// A bridge named by a host name is resolved first, by the resolver the run was given.
func TestAHostNameIsResolved(t *testing.T) {
	addr, err := freeport.TCP(lab.ClientHost)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	g := lab.StartGateway(t, lab.WithListener(tcp.New(), addr, "localhost:"+port, nil))
	r := run(t, probes.Config{}, g.Bridge())[0]
	s := r.Steps[0]
	if s.Name != probes.StepResolve || s.Skipped != "" || s.Host != "localhost" || s.Resolver != "system" || !slices.Contains(s.Addrs, lab.ClientHost) {
		t.Errorf("first step %+v; want localhost resolved by the system's resolver to %s", s, lab.ClientHost)
	}
	if !r.Works() {
		t.Errorf("failed at %s: %v", r.FailedStep, r.Failure)
	}
}

// A name that does not exist fails at the resolve with dns_nxdomain_error. Debian's
// unbound stands as the resolver, answering from a local zone only: nothing leaves
// the machine.
func TestANameThatDoesNotExistIsNXDOMAIN(t *testing.T) {
	resolver := startUnbound(t)
	line := lab.StartGateway(t).Bridge()
	line.Addr = "gone.test:443"
	r := run(t, probes.Config{Resolver: resolver}, line)[0]
	if r.Works() || r.FailedStep != probes.StepResolve || r.Failure.OONI() != "dns_nxdomain_error" || r.Steps[0].Resolver != "configured" {
		t.Fatalf("failed at %q: %v (%s); want dns_nxdomain_error at resolve", r.FailedStep, r.Failure, r.Verdict())
	}
	if v := r.Verdict(); v != "the name does not exist (NXDOMAIN): DNS blocking, or a wrong name" {
		t.Errorf("verdict %q", v)
	}
}

// startUnbound runs unbound on loopback with every name NXDOMAIN but gw.test, and
// returns a resolver that asks it.
func startUnbound(t *testing.T) *net.Resolver {
	t.Helper()
	bin, err := exec.LookPath("unbound")
	if err != nil {
		t.Fatalf("unbound: %v (apt-get install unbound)", err)
	}
	addr, err := freeport.UDP(lab.ClientHost)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "unbound.conf")
	err = os.WriteFile(conf, fmt.Appendf(nil, `server:
  interface: %s
  port: %s
  do-ip6: no
  do-tcp: yes
  do-daemonize: no
  use-syslog: no
  logfile: ""
  username: ""
  chroot: ""
  directory: %q
  pidfile: ""
  module-config: "iterator"
  access-control: 127.0.0.0/8 allow
  local-zone: "." static
  local-data: "gw.test. A 127.0.0.1"
`, host, port, dir), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	// unbound listens on TCP too: its port answering says it is up.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ready.TCP(ctx, addr, exited); err != nil {
		t.Fatalf("unbound: %v", err)
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// Sequentially, a line starts once the one before it has ended: a censor's per-flow
// state sees one line at a time. In parallel, a line starts while the first is held
// at its first step.
func TestSequentialProbesOneLineAtATime(t *testing.T) {
	a, b := lab.StartGateway(t).Bridge(), lab.StartGateway(t).Bridge()
	var mu sync.Mutex
	var order []int // the line of each event
	rs := run(t, probes.Config{Parallel: 1, OnEvent: func(e probes.Event) {
		mu.Lock()
		order = append(order, e.Line)
		mu.Unlock()
	}}, a, b)
	if !rs[0].Works() || !rs[1].Works() || rs[0].Index != 0 || rs[1].Index != 1 {
		t.Fatalf("results %+v, %+v; want both working, in input order", rs[0], rs[1])
	}
	n := len(rs[0].Steps) * 2 // a start and an end each
	if len(order) != 2*n || slices.Contains(order[:n], 1) || slices.Contains(order[n:], 0) {
		t.Errorf("sequentially, the lines' events came in the order %v", order)
	}

	second := make(chan struct{})
	var once sync.Once
	guard, cancel := context.WithTimeout(context.Background(), time.Minute) // only keeps a broken run from hanging
	defer cancel()
	rs = run(t, probes.Config{Parallel: 2, OnEvent: func(e probes.Event) {
		if e.Line == 1 {
			once.Do(func() { close(second) })
			return
		}
		select {
		case <-second:
		case <-guard.Done():
		}
	}}, a, b)
	select {
	case <-second:
	default:
		t.Error("in parallel, the second line did not start while the first waited")
	}
	if !rs[0].Works() || !rs[1].Works() {
		t.Errorf("in parallel: %v, %v", rs[0].Failure, rs[1].Failure)
	}
}
