package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/probes/censor"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/all"
)

// world is the demo's loopback network: the relay, a gateway with every transport, and
// a censor with one route in front of each listener. Clients dial the routes only.
//
// internal/lab builds such a world for tests, but with an echo service where the demo
// needs its relay, so the demo composes the same parts itself.
type world struct {
	registry *transports.Registry
	censor   *censor.Censor
	bridges  []bridge.Line     // the clients' lines, each dialling a censor route
	direct   map[string]string // transport → the gateway's own address, for the probes
	stop     []func()          // run in reverse order by close
}

func (w *world) close() {
	for _, f := range slices.Backward(w.stop) {
		f()
	}
}

func (d *demo) startWorld(ctx context.Context) (_ *world, err error) {
	w := &world{registry: all.Registry(), direct: map[string]string{}}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	w.stop = append(w.stop, func() { w.registry.Close() })
	stateDir, err := os.MkdirTemp("", "umbrella-demo-")
	if err != nil {
		return nil, err
	}
	w.stop = append(w.stop, func() { os.RemoveAll(stateDir) })

	relayLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	relay := &backend.Relay{OnMessage: func(size, fanout int) { d.relayed.Add(1) }}
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { relay.Serve(relayCtx, relayLn); close(relayDone) }()
	w.stop = append(w.stop, func() { stopRelay(); <-relayDone })
	d.say("backend   mls relay on %s (stands for the MLS delivery service)", relayLn.Addr())

	// The gateway's listeners must be named before the censor's routes to them, and the
	// routes before the listeners' bridge lines: a hello is bound to the address dialled.
	var routes []censor.Route
	args := map[string]transports.Args{}
	for _, name := range w.registry.Names() {
		if lab.ViaResolver(name) {
			d.say("gateway   %-9s left out: its clients reach it through a recursive resolver, which the demo does not run (go test ./internal/lab -run Shutdown does)", name)
			continue
		}
		a, err := lab.ListenerArgs(name)
		if errors.Is(err, lab.ErrUnavailable) {
			d.say("gateway   %-9s left out: %v", name, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		network := lab.Network(name)
		addr, err := freeLoopback(network)
		if err != nil {
			return nil, err
		}
		args[name], w.direct[name] = a, addr
		routes = append(routes, censor.Route{Name: name, Transport: name, Network: network,
			Listen: "127.0.0.1:0", Upstream: addr})
	}
	c, err := censor.New(censor.Config{Routes: routes, Logger: d.log.With("side", "censor"), OnDecision: d.onDecision})
	if err != nil {
		return nil, err
	}
	w.censor = c
	censorDone := make(chan struct{})
	go func() { c.Run(context.Background()); close(censorDone) }()
	w.stop = append(w.stop, func() { c.Close(); <-censorDone })

	_, identity, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	gcfg := gateway.Config{
		Identity: identity,
		Secrets:  []session.Secret{config.GenerateSecret()},
		Services: map[string]string{"mls": relayLn.Addr().String()},
		StateDir: stateDir,
		// The demo's own clients have hung up by the end; nothing is worth waiting for.
		DrainTimeout: time.Second,
		Logger:       d.log.With("side", "gateway"),
	}
	for _, r := range c.Routes() {
		t, _ := w.registry.Get(r.Transport)
		gcfg.Listeners = append(gcfg.Listeners, gateway.ListenerConfig{
			Transport: t, Listen: r.Upstream, Public: r.Listen, Args: args[r.Transport],
		})
	}
	gctx, stopGateway := context.WithCancel(ctx)
	g, err := gateway.Listen(gctx, gcfg)
	if err != nil {
		stopGateway()
		return nil, err
	}
	served := make(chan struct{})
	go func() { g.Serve(gctx); close(served) }()
	w.stop = append(w.stop, func() { stopGateway(); <-served })
	w.bridges = g.Bridges()
	for _, r := range c.Routes() {
		d.say("gateway   %-9s listens on %s; clients reach it through the censor at %s", r.Transport, r.Upstream, r.Listen)
	}
	d.say("gateway   is its own web front for the web transports: no nginx needed")
	d.say("censor    between the clients and the gateway; no policy yet, everything passes")
	return w, nil
}

// onDecision tells of the censor's blocks of new connections; its cuts of running ones
// the escalation tells itself.
func (d *demo) onDecision(dec censor.Decision) {
	if dec.Policy == "kill" || (dec.Verdict != censor.Drop && dec.Verdict != censor.Reset) {
		return
	}
	d.blocked.Add(1)
	verb := map[censor.Verdict]string{censor.Drop: "dropped", censor.Reset: "reset"}[dec.Verdict]
	d.say("censor    %s %s a new %s connection: %s", dec.Policy, verb, dec.Flow.Transport, dec.Reason)
}

// freeLoopback returns a 127.0.0.1 port of network that was free a moment ago, for a
// listener that must be named before it binds.
func freeLoopback(network string) (string, error) {
	return freeport.For(network, "127.0.0.1")
}

// probes shows what a censor's prober sees at the gateway's own addresses: no secret,
// so a website or silence.
func (d *demo) probes(direct map[string]string) {
	d.say("")
	if addr, ok := direct["tcp"]; ok {
		d.say("probe     random bytes to the gateway's tcp %s → %s", addr, rawProbe(addr))
	}
	if addr, ok := direct["utls"]; ok {
		d.say("probe     https://%s/ (the gateway's utls) → %s", addr, httpsProbe(addr))
	}
}

func httpsProbe(addr string) string {
	hc := &http.Client{
		Timeout: 15 * time.Second,
		// One request, then hang up, as a prober would; a kept-alive connection would
		// hold the decoy (and the demo's shutdown) for its idle timeout. A prober
		// takes any certificate: it wants to see the site, not to trust it.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
	}
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	title := "(no title)"
	if i := strings.Index(string(body), "<title>"); i >= 0 {
		if j := strings.Index(string(body[i:]), "</title>"); j > 0 {
			title = html.UnescapeString(string(body[i+7 : i+j]))
		}
	}
	return fmt.Sprintf("%s, a website titled %q (the decoy)", resp.Status, title)
}

func rawProbe(addr string) string {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "error: " + err.Error()
	}
	defer conn.Close()
	junk := make([]byte, 300)
	rand.Read(junk)
	conn.Write(junk)
	// The gateway never answers; read briefly to show that nothing comes back.
	conn.SetReadDeadline(time.Now().Add(time.Second))
	n, _ := conn.Read(make([]byte, 1))
	if n > 0 {
		return "an answer (this would be a bug)"
	}
	return "no answer (the gateway discards, then closes at a random time)"
}
