// Package gateway is the edge: it listens on the configured transports, admits sessions
// that prove the bridge secret, and connects their streams to named backend services.
// It is never an open proxy: a stream can only reach a service the operator named.
package gateway

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/gateway/fleet"
	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/admission"
)

// Config is what a gateway runs with. The CLI builds it from a config.Gateway file.
type Config struct {
	// Identity is the gateway's long-term Ed25519 key, pinned in its bridge lines.
	Identity ed25519.PrivateKey
	// Rotation, when set, replaces Identity by its next key at its time; until then
	// sessions announce the next key and bridge lines carry it (next-key=).
	Rotation *session.Rotation
	// Secrets are the accepted bridge secrets; the first is printed in bridge lines.
	Secrets []session.Secret
	// Listeners are the transports to serve.
	Listeners []ListenerConfig
	// Services maps service names to backend addresses ("mls" → "127.0.0.1:7000").
	Services map[string]string
	// Decoy is the website for unauthenticated peers of HTTP-like transports; nil
	// means each transport's built-in page.
	Decoy http.Handler
	// StateDir is passed to transports for the keys and certificates they keep, and
	// holds the replay cache's journal; empty keeps the replay cache in memory only,
	// so that a restart forgets which hellos were answered.
	StateDir string
	// Certificates are the TLS certificates the gateway obtains and renews itself
	// (acmecert's, from an ACME CA), for the TLS listeners whose servername= they
	// manage; nil: listeners use their cert= files or make self-signed ones.
	Certificates transports.CertSource

	// HandshakeTimeout bounds a session handshake; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxSessions bounds established sessions; 0 means DefaultMaxSessions.
	MaxSessions int
	// MaxHandshakes bounds the peers each listener holds before they are sessions
	// (in its transport's handshake or the session's); 0 means DefaultMaxHandshakes.
	// A full listener still takes a newcomer in: it evicts an old idle peer.
	MaxHandshakes int
	// FirstBytesTimeout bounds how long a carrier may stay silent after its
	// transport handshake, counted from when it reaches the gateway (behind nginx,
	// a CDN or meek's polls too); 0 means DefaultFirstBytesTimeout, and less than
	// MinFirstBytesTimeout means that.
	FirstBytesTimeout time.Duration
	// MaxHeld bounds the rejected peers held in silence or in the decoy site at
	// once, across listeners; past it the oldest is closed. 0 means DefaultMaxHeld.
	MaxHeld int
	// MaxStreams bounds open streams per session; 0 means session.DefaultMaxStreams.
	MaxStreams int
	// BackendDialTimeout bounds connecting to a backend service; 0 means
	// DefaultBackendDialTimeout.
	BackendDialTimeout time.Duration
	// DrainTimeout is how long Serve waits for sessions to end after its context is
	// done before it closes them; 0 means DefaultDrainTimeout. Detached sessions end
	// at once.
	DrainTimeout time.Duration
	// ResumeGrace is how long a session whose carrier died keeps its streams and
	// backend connections, waiting for the client to resume it; 0 means
	// session.DefaultResumeGrace.
	ResumeGrace time.Duration
	// ResumeBuffer bounds each session's bytes sent and not yet acknowledged by the
	// client (what a resume sends again); 0 means session.DefaultResumeBuffer.
	ResumeBuffer int
	// MemoryBudget bounds the bytes all sessions buffer together (stream receive
	// buffers, resend buffers, detached sessions'; see session.Budget for who pays
	// when it runs short); 0 means DefaultMemoryBudget(), from this machine's memory.
	MemoryBudget int64
	// StreamOpenBurst and StreamOpenRate bound how fast one session opens streams:
	// a burst, then so many a second; 0 means session.DefaultStreamOpenBurst and
	// session.DefaultStreamOpenRate.
	StreamOpenBurst int
	StreamOpenRate  float64

	// Probe configures the built-in service named ProbeService, which the probe tool
	// measures with; the zero value serves it at the default rates.
	Probe ProbeConfig

	// Fleet, when not nil, makes this gateway an edge of a fleet: its replay cache,
	// revocations and session directory are shared through Redis, and a resume for a
	// session another edge holds is relayed there (docs/fleet.md). Nil keeps all of
	// it in this process. The gateway does not close it: close it after Serve.
	Fleet *fleet.Fleet

	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// LogClientIPs puts client addresses in logs. Off by default: logs are evidence.
	LogClientIPs bool
}

// ListenerConfig is one transport listener.
type ListenerConfig struct {
	Transport transports.Transport
	// Listen is the local bind address.
	Listen string
	// Public is the address clients dial, as printed in bridge lines. Empty means the
	// bound address, which must then not be a wildcard.
	Public string
	// Args are the transport's server options.
	Args transports.Args
}

// Gateway serves sessions on its listeners. Build one with Listen.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	journal session.ReplayCache // this process's own: in memory, or a journal
	replay  session.ReplayCache // the journal, or the fleet's in front of it
	store   session.Store
	live    *session.Registry // sessions a resume hello may re-attach
	budget  *session.Budget   // what all sessions may buffer together
	marks   session.Marks     // each bridge secret's keyed mark HMAC, derived once
	probe   *probeService     // the built-in probe service; nil when off

	listeners []*listener
	held      *admission.Held    // rejected peers held in silence or the decoy, capped
	sources   *admission.Sources // groups peers by a keyed hash of their address
	policy    atomic.Pointer[Policy]

	mu       sync.Mutex
	sessions map[*session.Session]struct{}
	draining bool
	wg       sync.WaitGroup // connection goroutines
}

// listener is one bound transport listener with its bridge line.
type listener struct {
	ln     transports.Listener
	name   string
	bridge bridge.Line
	// endpoint is the bridge line's, which every hello must be bound to: computed
	// once, since it parses the line's URL.
	endpoint session.Endpoint
	pool     *admission.Pool // its handshake places, shared with its transport
	log      *slog.Logger    // the gateway's, naming the transport: built once, not per carrier
}

// Listen validates cfg, binds every listener and returns a gateway ready to Serve.
func Listen(ctx context.Context, cfg Config) (*Gateway, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	journal, err := openReplayCache(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	live := session.NewRegistry()
	budget := session.NewBudget(cfg.MemoryBudget, func(id session.ID) {
		cfg.Logger.Warn("session slowed: it holds more than its share of a tight memory budget", "session", shortID(id[:]))
	})
	held := admission.NewHeld(cfg.MaxHeld)
	g := &Gateway{
		cfg:      cfg,
		log:      cfg.Logger,
		metrics:  newMetrics(live, budget, held),
		journal:  journal,
		replay:   journal,
		store:    session.NewMemoryStore(),
		live:     live,
		budget:   budget,
		held:     held,
		sources:  admission.NewSources(0),
		sessions: make(map[*session.Session]struct{}),
		probe:    newProbeService(cfg.Probe),
	}
	g.joinFleet()
	g.policy.Store(&Policy{
		Secrets:          cfg.Secrets,
		HandshakeTimeout: cfg.HandshakeTimeout,
		MaxSessions:      cfg.MaxSessions,
		MaxStreams:       cfg.MaxStreams,
		ResumeGrace:      cfg.ResumeGrace,
		ResumeBuffer:     cfg.ResumeBuffer,
		MemoryBudget:     cfg.MemoryBudget,
		StreamOpenBurst:  cfg.StreamOpenBurst,
		StreamOpenRate:   cfg.StreamOpenRate,
	})
	for i, lc := range cfg.Listeners {
		l, err := g.bind(ctx, lc)
		if err != nil {
			g.closeListeners()
			g.closeReplay()
			return nil, fmt.Errorf("listener %d (%s on %s): %w", i, lc.Transport.Name(), lc.Listen, err)
		}
		g.listeners = append(g.listeners, l)
	}
	names := make([]string, len(g.listeners))
	for i, l := range g.listeners {
		names[i] = l.name
	}
	g.metrics.zero(names, slices.Sorted(maps.Keys(cfg.Services)))
	return g, nil
}

func (c *Config) setDefaults() {
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = limits.DefaultHandshakeTimeout
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = limits.DefaultMaxSessions
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = limits.DefaultMaxHandshakes
	}
	if c.FirstBytesTimeout <= 0 {
		c.FirstBytesTimeout = limits.DefaultFirstBytesTimeout
	}
	c.FirstBytesTimeout = max(c.FirstBytesTimeout, limits.MinFirstBytesTimeout)
	if c.MaxHeld <= 0 {
		c.MaxHeld = limits.DefaultMaxHeld
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = session.DefaultMaxStreams
	}
	if c.BackendDialTimeout <= 0 {
		c.BackendDialTimeout = limits.DefaultBackendDialTimeout
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = limits.DefaultDrainTimeout
	}
	if c.ResumeGrace <= 0 {
		c.ResumeGrace = session.DefaultResumeGrace
	}
	if c.ResumeBuffer <= 0 {
		c.ResumeBuffer = session.DefaultResumeBuffer
	}
	if c.MemoryBudget <= 0 {
		c.MemoryBudget = DefaultMemoryBudget()
	}
	if c.StreamOpenBurst <= 0 {
		c.StreamOpenBurst = session.DefaultStreamOpenBurst
	}
	if c.StreamOpenRate <= 0 {
		c.StreamOpenRate = session.DefaultStreamOpenRate
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	switch {
	case len(c.Identity) != ed25519.PrivateKeySize:
		return errors.New("gateway: no identity key")
	case c.Rotation != nil && len(c.Rotation.Next) != ed25519.PrivateKeySize:
		return errors.New("gateway: rotation without a next identity key")
	case len(c.Secrets) == 0:
		return errors.New("gateway: no bridge secret")
	case len(c.Listeners) == 0:
		return errors.New("gateway: no listeners")
	case len(c.Services) == 0:
		return errors.New("gateway: no backend services")
	}
	if _, ok := c.Services[limits.ProbeService]; ok {
		return fmt.Errorf("gateway: the service name %q is the gateway's own (Config.Probe)", limits.ProbeService)
	}
	return nil
}

func (g *Gateway) bind(ctx context.Context, lc ListenerConfig) (*listener, error) {
	stateDir, err := g.listenerStateDir(lc)
	if err != nil {
		return nil, err
	}
	name := lc.Transport.Name()
	pool := g.newPool(name)
	log := g.log.With("transport", name)
	ln, err := lc.Transport.Listen(ctx, transports.ListenConfig{
		Addr:         lc.Listen,
		Args:         lc.Args,
		StateDir:     stateDir,
		Decoy:        g.cfg.Decoy,
		Logger:       log,
		Admission:    pool,
		Certificates: g.cfg.Certificates,
	})
	if err != nil {
		return nil, err
	}
	public := lc.Public
	if public == "" {
		public = ln.Addr().String()
		if host, _, err := net.SplitHostPort(public); err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				ln.Close()
				return nil, fmt.Errorf("public: required when listening on the wildcard address %s", public)
			}
		}
	}
	line := bridge.Line{
		Transport: lc.Transport.Name(),
		Addr:      public,
		Args:      ln.BridgeArgs(),
	}
	line.Key, line.NextKey = g.cfg.lineKeys(time.Now())
	return &listener{ln: ln, name: name, bridge: line, endpoint: line.Endpoint(), pool: pool, log: log}, nil
}

// ListenerStateDir is the state directory of a listener of a gateway whose state
// directory is stateDir ("" for none): one of its own, named after its transport and
// bind address so it survives reordering the config, since two listeners of one
// transport (two certificates, two obfs4 identities) must not overwrite each other.
func ListenerStateDir(stateDir string, lc ListenerConfig) string {
	if stateDir == "" {
		return ""
	}
	name := lc.Transport.Name() + "-" + strings.NewReplacer(":", "_", "[", "", "]", "").Replace(lc.Listen)
	return filepath.Join(stateDir, "listeners", name)
}

// listenerStateDir makes the listener's ListenerStateDir.
func (g *Gateway) listenerStateDir(lc ListenerConfig) (string, error) {
	dir := ListenerStateDir(g.cfg.StateDir, lc)
	if dir == "" {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	return dir, nil
}

// Bridges returns the bridge line of every listener, in configuration order, with the
// current first secret.
func (g *Gateway) Bridges() []bridge.Line {
	secret := g.bridgeSecret()
	out := make([]bridge.Line, len(g.listeners))
	for i, l := range g.listeners {
		out[i] = l.bridge
		out[i].Secret = secret
	}
	return out
}

// AdminHandler serves /metrics (Prometheus) and /healthz. Mount it on loopback only.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", g.metrics.handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		draining := g.draining
		g.mu.Unlock()
		if draining {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Serve accepts carriers on every listener until ctx is done, then stops accepting,
// ends detached sessions (no resume can reach them any more), waits up to
// DrainTimeout for the others to end, and closes the rest.
func (g *Gateway) Serve(ctx context.Context) error {
	acceptErr := make(chan error, len(g.listeners))
	var loops sync.WaitGroup
	for _, l := range g.listeners {
		loops.Go(func() { acceptErr <- g.acceptLoop(ctx, l) })
	}
	stopLink := g.serveLink(ctx, &loops)
	var err error
	select {
	case <-ctx.Done():
	case err = <-acceptErr:
	}
	g.mu.Lock()
	g.draining = true
	n := len(g.sessions)
	g.mu.Unlock()
	// Rejected peers are no one's session: they go now, or drain would wait out
	// their randomised silence (up to twice the handshake timeout).
	g.held.Close()
	g.closeListeners()
	stopLink()
	loops.Wait() // no connection goroutine starts after this
	g.live.Drain()
	g.log.Info("draining", "sessions", n, "timeout", g.cfg.DrainTimeout)

	drained := make(chan struct{})
	go func() { g.wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(g.cfg.DrainTimeout):
		g.closeSessions()
		<-drained
	}
	g.closeReplay() // no handshake runs any more
	return err
}

func (g *Gateway) closeListeners() {
	for _, l := range g.listeners {
		l.ln.Close()
	}
}

func (g *Gateway) closeSessions() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s := range g.sessions {
		s.Close()
	}
}

func (g *Gateway) acceptLoop(ctx context.Context, l *listener) error {
	for {
		conn, err := transports.Accept(l.ln, ctx.Done(), l.log)
		if err != nil {
			return nil
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.serveConn(ctx, l, conn)
		}()
	}
}
