// Package censor is a censor you can run: a TCP and UDP relay on loopback that applies
// published censorship techniques to the flows it carries, as named policies, and logs
// every decision. Tests, the demo and testers' labs put it between client and gateway.
package censor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config is a censor's setup. Only Routes is required.
type Config struct {
	// Routes are the relays, each a listen address forwarding to one upstream.
	Routes []Route
	// Policies are applied to each new flow in order; the first that blocks decides.
	Policies []Policy
	// Logger receives every decision and the censor's own events; nil discards them.
	Logger *slog.Logger
	// OnDecision, if set, is called with each decision as it is made. It must not
	// block: the flow waits for it.
	OnDecision func(Decision)
	// DialTimeout bounds connecting to an upstream (and each active probe's dial);
	// 0 means 10 s.
	DialTimeout time.Duration
	// UDPIdle is how long a UDP flow lives without a datagram; 0 means 2 min.
	UDPIdle time.Duration
}

// A Censor relays its routes and applies its policies. Build one with New, serve with
// Run, stop with Close.
type Censor struct {
	dialTimeout time.Duration
	udpIdle     time.Duration
	log         *slog.Logger
	decisions   *decisionLog
	routes      []*route
	ca          *certAuthority
	policies    atomic.Pointer[[]Policy]
	nextID      atomic.Uint64
	probes      *prober
	// ctx ends when the censor closes, aborting its dials and probes.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	flows  map[uint64]flowHandle
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// flowHandle is a running flow, TCP or UDP.
type flowHandle interface {
	status() FlowStatus
	kill(mode KillMode)
}

// New checks cfg, binds every route's listen address and makes the censor's root CA.
// Nothing is relayed until Run.
func New(cfg Config) (*Censor, error) {
	if len(cfg.Routes) == 0 {
		return nil, fmt.Errorf("%w: no routes", ErrBadRoute)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Censor{
		dialTimeout: cfg.DialTimeout,
		udpIdle:     cfg.UDPIdle,
		log:         log,
		decisions:   &decisionLog{log: log, callback: cfg.OnDecision},
		flows:       make(map[uint64]flowHandle),
		done:        make(chan struct{}),
	}
	if c.dialTimeout <= 0 {
		c.dialTimeout = 10 * time.Second
	}
	if c.udpIdle <= 0 {
		c.udpIdle = 2 * time.Minute
	}
	names := map[string]bool{}
	for _, r := range cfg.Routes {
		if names[r.Name] {
			c.closeRoutes()
			return nil, fmt.Errorf("%w %q: name %q used twice", ErrBadRoute, r.String(), r.Name)
		}
		names[r.Name] = true
		rt, err := listenRoute(context.Background(), r)
		if err != nil {
			c.closeRoutes()
			return nil, err
		}
		c.routes = append(c.routes, rt)
	}
	ca, err := newCertAuthority(time.Now())
	if err != nil {
		c.closeRoutes()
		return nil, err
	}
	c.ca = ca
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.probes = newProber(c)
	c.SetPolicies(cfg.Policies...)
	return c, nil
}

// Run relays until ctx ends or Close is called, then closes every route and flow.
// It returns nil once everything has stopped.
func (c *Censor) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	// Added under the lock that Close takes first, so Close never waits on a group
	// that is still growing from zero.
	c.wg.Add(len(c.routes))
	c.mu.Unlock()
	for _, rt := range c.routes {
		switch rt.Network {
		case "tcp":
			go c.acceptTCP(rt)
		case "udp":
			go c.serveUDP(rt)
		}
	}
	select {
	case <-ctx.Done():
	case <-c.done:
	}
	c.Close()
	return nil
}

// Close stops every route and ends every flow; it waits for the censor's goroutines.
func (c *Censor) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	close(c.done)
	c.cancel()
	flows := make([]flowHandle, 0, len(c.flows))
	for _, f := range c.flows {
		flows = append(flows, f)
	}
	c.mu.Unlock()
	c.closeRoutes()
	for _, f := range flows {
		f.kill(killClose)
	}
	c.probes.close()
	c.wg.Wait()
	return nil
}

func (c *Censor) closeRoutes() {
	for _, rt := range c.routes {
		rt.close()
	}
}

// Routes returns the routes with the addresses they listen on.
func (c *Censor) Routes() []Route {
	out := make([]Route, len(c.routes))
	for i, rt := range c.routes {
		out[i] = rt.Route
	}
	return out
}

// Route returns the route called name, with the address it listens on.
func (c *Censor) Route(name string) (Route, bool) {
	for _, rt := range c.routes {
		if rt.Name == name {
			return rt.Route, true
		}
	}
	return Route{}, false
}

// SetPolicies replaces the policies new flows meet; flows already running keep theirs.
func (c *Censor) SetPolicies(ps ...Policy) {
	ps = append([]Policy(nil), ps...)
	c.policies.Store(&ps)
	specs := make([]string, len(ps))
	for i, p := range ps {
		specs[i] = p.String()
	}
	c.log.Info("policies set", "policies", specs)
}

// Policies returns the policies new flows meet.
func (c *Censor) Policies() []Policy {
	return append([]Policy(nil), *c.policies.Load()...)
}

// Decisions returns the decisions made so far, oldest first (the newest 10 000).
func (c *Censor) Decisions() []Decision { return c.decisions.snapshot() }

// CACertPEM is the censor's root CA certificate, for a client that is to trust the
// interception (as Kazakhstan asked its citizens to install its root in 2019).
func (c *Censor) CACertPEM() []byte { return c.ca.certPEM }

// track registers a new flow; it reports false when the censor is closing.
func (c *Censor) track(id uint64, f flowHandle) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.flows[id] = f
	c.wg.Add(1)
	return true
}

func (c *Censor) untrack(id uint64) {
	c.mu.Lock()
	delete(c.flows, id)
	c.mu.Unlock()
	c.wg.Done()
}

// judge runs one hook of every policy in ps that covers f, logging each decision,
// and returns the first blocking verdict, or the strongest other one.
func (c *Censor) judge(ps []Policy, f Flow, hook func(Policy) (Verdict, string)) (Verdict, Policy) {
	verdict, by := Pass, Policy(nil)
	for _, p := range ps {
		if !p.scope().covers(f) {
			continue
		}
		v, reason := hook(p)
		if v == "" {
			continue
		}
		c.decisions.add(p.Name(), f, v, reason)
		if v.blocks() {
			return v, p
		}
		if v != Pass && verdict == Pass {
			verdict, by = v, p
		}
	}
	return verdict, by
}

func (c *Censor) judgeConnect(ps []Policy, f Flow) (Verdict, Policy) {
	return c.judge(ps, f, func(p Policy) (Verdict, string) {
		if j, ok := p.(connectJudge); ok {
			return j.judgeConnect(c, f)
		}
		return "", ""
	})
}

// isClosedErr reports whether err only says that the censor closed a conn itself.
func isClosedErr(err error) bool { return errors.Is(err, net.ErrClosed) }
