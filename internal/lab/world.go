package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/probes/censor"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/all"
	"github.com/umbrella-edge/edge/transports/trust"
)

// The lab's hosts, all on loopback. The client and the censor's routes are on
// ClientHost; the gateway has an address of its own, so that blocking it leaves the
// CDN reachable, as IP blocking does on the Internet.
const (
	ClientHost  = "127.0.0.1"
	GatewayHost = "127.0.0.2"
	CDNHost     = "127.0.0.3"
)

// Service is the name the lab's gateway gives its echo backend.
const Service = "echo"

// CDNSuffix ends the names of the censor's routes to the CDN: "websocket" reaches the
// gateway directly, "websocket-cdn" through nginx.
const CDNSuffix = "-cdn"

// Options configure a lab. The zero value is every registered transport, the CDN, and
// a censor that lets everything through.
type Options struct {
	// Transports are the transports the gateway serves; nil means every one in
	// Registry.
	Transports []string
	// Registry resolves the transports of the gateway and of Client; nil means
	// all.RegistryWith the roots of the lab's CAFile, whose transports the lab closes
	// with itself. A registry given here must trust CAFile for the fronted bridges.
	Registry *transports.Registry
	// Policies are the censor's policies at start; change them with
	// Censor.SetPolicies.
	Policies []censor.Policy
	// NoCDN leaves nginx out, and with it the fronted bridges.
	NoCDN bool
	// Resolver runs unbound as the network's recursive resolver on ResolverHost, and
	// with it the gateway's dns listener, whose line's route leads to the resolver.
	// Without it nil Transports leave dns out; naming dns in Transports needs it.
	Resolver bool
	// AllowMissing leaves out what needs a program this machine lacks (the pt
	// listener without obfs4proxy, the CDN without nginx) and lists it in Missing,
	// instead of failing. Tests leave it false: CI installs everything.
	AllowMissing bool
	// NginxConfigs is the directory of the shipped nginx site templates; empty means
	// docker/nginx in the source tree this package was built from.
	NginxConfigs string
	// ResumeGrace is how long the gateway keeps a session whose carrier died; 0
	// means the gateway's default.
	ResumeGrace time.Duration
	// MaxHandshakes is the gateway's handshake places per listener; 0 means the
	// gateway's default.
	MaxHandshakes int
	// FirstBytesTimeout is how long the gateway keeps a silent carrier's place; 0
	// means the gateway's default.
	FirstBytesTimeout time.Duration
	// Logger receives the gateway's and the censor's logs; nil discards them.
	Logger *slog.Logger
}

// A Line is one of the lab's bridge lines and the censor route it dials.
type Line struct {
	Bridge bridge.Line
	Route  censor.Route
	// Fronted is true when the route leads to the CDN, which passes the carrier on
	// to the gateway.
	Fronted bool
	// ViaResolver is true when the route leads to the lab's resolver, which asks the
	// gateway's dns listener.
	ViaResolver bool
	// Listen is the gateway listener's own address, behind the route (and the CDN):
	// where an attacker who found it connects.
	Listen string
}

// Lab is a running loopback network: an echo backend, a gateway on GatewayHost with a
// listener per transport, nginx on CDNHost in front of the websocket and meek
// listeners meant for it, and a censor with one route per bridge line. Clients dial
// the censor's routes only. Close stops it all.
type Lab struct {
	Gateway *gateway.Gateway
	Censor  *censor.Censor
	// Backend is the echo service's address, called Service on the gateway.
	Backend string
	// Website is an ordinary HTTPS website on nginx (WebsiteName), unrelated to the
	// gateway: what the censor's active prober compares servers with. Empty without
	// the CDN.
	Website string
	// Registry resolves the lab's transports.
	Registry *transports.Registry
	// CAFile is the PEM certificate of the lab's CA, which issued the CDN's
	// certificates: what a client of the fronted bridges names as its ca_file. The
	// gateway's own TLS listeners are self-signed, and their lines carry pin=.
	CAFile string
	// Missing says what AllowMissing left out and why, by transport name ("cdn" for
	// nginx).
	Missing map[string]error
	// Resolver is unbound's address, where the dns line's route leads: the one
	// resolver a shutdown lets DNS reach. Empty without Options.Resolver.
	Resolver string

	lines []Line
	log   *slog.Logger
	dir   string
	ca    *labca.CA

	closeOnce sync.Once
	// What Close stops, in its order: from the client's side inwards, so that no
	// carrier reaches the gateway once it drains and the handshakes it holds end.
	stop struct{ censor, cdn, resolver, gateway, backend, files func() }
}

// startAttempts bounds how often Start picks new ports when one it picked was taken
// by another process before the lab could bind it.
const startAttempts = 3

// Start builds and runs a lab. ctx bounds the start only; the lab runs until Close.
// A start that fails stops what it started.
func Start(ctx context.Context, opts Options) (*Lab, error) {
	for attempt := 1; ; attempt++ {
		l, err := start(ctx, opts)
		if err == nil || !addrInUse(err) || attempt == startAttempts {
			return l, err
		}
	}
}

// addrInUse reports whether err is a bind that failed because the port was taken,
// also when a PT program reported it as text.
func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(strings.ToLower(err.Error()), "address already in use")
}

func start(ctx context.Context, opts Options) (_ *Lab, err error) {
	l := &Lab{Registry: opts.Registry, Missing: map[string]error{}, log: opts.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if l.dir, err = os.MkdirTemp("", "umbrella-lab-"); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if l.ca, err = labca.New("Umbrella Edge lab CA"); err != nil {
		return nil, err
	}
	l.CAFile = filepath.Join(l.dir, "ca.pem")
	if err := l.ca.WriteFile(l.CAFile); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if l.Registry == nil {
		// Through the CA file, as a user's client trusts a private CA.
		roots, err := trust.LoadCAFile(l.CAFile)
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		l.Registry = all.RegistryWith(all.Options{Roots: roots})
	}
	l.stop.files = func() {
		if opts.Registry == nil {
			l.Registry.Close()
		}
		os.RemoveAll(l.dir)
	}
	if err := l.startBackend(); err != nil {
		return nil, err
	}
	plans, cdn, err := l.plan(opts)
	if err != nil {
		return nil, err
	}
	if err := l.startCensor(plans, opts); err != nil {
		return nil, err
	}
	if err := l.startGateway(plans, opts); err != nil {
		return nil, err
	}
	for _, p := range plans {
		if p.resolver != nil {
			if err := l.startResolver(ctx, p.resolver); err != nil {
				return nil, err
			}
		}
	}
	if cdn != nil {
		if err := cdn.start(ctx, l); err != nil {
			return nil, err
		}
		l.stop.cdn = cdn.stop
		l.Website = cdn.website
	}
	return l, nil
}

// Close stops the censor, nginx, the gateway and the backend, and removes the lab's
// files. Clients made with Client are the caller's to close, before.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		for _, f := range []func(){l.stop.censor, l.stop.cdn, l.stop.resolver, l.stop.gateway, l.stop.backend, l.stop.files} {
			if f != nil {
				f()
			}
		}
	})
	return nil
}

// Lines returns the lab's bridge lines, the gateway's direct ones (in transport name
// order) before the fronted ones.
func (l *Lab) Lines() []Line {
	out := slices.Clone(l.lines)
	for i := range out {
		out[i].Bridge.Args = out[i].Bridge.Args.Clone()
	}
	return out
}

// Bridges returns the client's bridge lines, in the order of Lines. Each dials a
// censor route.
func (l *Lab) Bridges() []bridge.Line {
	lines := l.Lines()
	out := make([]bridge.Line, len(lines))
	for i, ln := range lines {
		out[i] = ln.Bridge
	}
	return out
}

func (l *Lab) startBackend() error {
	addr, stop, err := serveEcho(ClientHost)
	if err != nil {
		return err
	}
	l.Backend, l.stop.backend = addr, stop
	return nil
}

func (l *Lab) startCensor(plans []listenerPlan, opts Options) error {
	routes := make([]censor.Route, len(plans))
	for i, p := range plans {
		routes[i] = p.route
	}
	c, err := censor.New(censor.Config{Routes: routes, Policies: opts.Policies, Logger: l.log.With("component", "censor")})
	if err != nil {
		return fmt.Errorf("lab: censor: %w", err)
	}
	l.Censor = c
	done := make(chan struct{})
	go func() { c.Run(context.Background()); close(done) }()
	l.stop.censor = func() { c.Close(); <-done }
	return nil
}

// startGateway binds a listener per plan, each printing its censor route's address in
// its bridge line: the session hello is bound to the address the client dials.
func (l *Lab) startGateway(plans []listenerPlan, opts Options) error {
	_, identity, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("lab: identity: %w", err)
	}
	cfg := gateway.Config{
		Identity:          identity,
		Secrets:           []session.Secret{config.GenerateSecret()},
		Services:          map[string]string{Service: l.Backend},
		StateDir:          filepath.Join(l.dir, "gateway"),
		ResumeGrace:       opts.ResumeGrace,
		MaxHandshakes:     opts.MaxHandshakes,
		FirstBytesTimeout: opts.FirstBytesTimeout,
		// Clients are closed before the lab; what is left ends at once.
		DrainTimeout: 2 * time.Second,
		Logger:       l.log.With("component", "gateway"),
	}
	routes := make([]censor.Route, len(plans))
	for i, p := range plans {
		routes[i], _ = l.Censor.Route(p.route.Name)
		cfg.Listeners = append(cfg.Listeners, gateway.ListenerConfig{
			Transport: p.transport, Listen: p.listen, Public: routes[i].Listen, Args: p.args,
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.Listen(ctx, cfg)
	if err != nil {
		cancel()
		return fmt.Errorf("lab: %w", err)
	}
	l.Gateway = g
	served := make(chan struct{})
	go func() { g.Serve(ctx); close(served) }()
	l.stop.gateway = func() { cancel(); <-served }
	for i, b := range g.Bridges() {
		l.lines = append(l.lines, Line{Bridge: b, Route: routes[i], Fronted: plans[i].fronted,
			ViaResolver: plans[i].resolver != nil, Listen: plans[i].listen})
	}
	return nil
}

// freeAddr returns host:port with a port of network that was free a moment ago, for a
// server that must be named before it binds (the censor's upstreams, nginx).
func freeAddr(network, host string) (string, error) {
	addr, err := freeport.For(network, host)
	if err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	return addr, nil
}
