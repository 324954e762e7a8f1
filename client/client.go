// Package client is the user's side: it keeps a session to a gateway over the best of
// its bridge lines, moves the session to another bridge when a censor blocks the one in
// use, and opens streams to named services. Local proxies for apps are in client/proxy.
package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// Config is what a client runs with. Zero values mean the documented defaults.
type Config struct {
	// Bridges are the candidates, best first when nothing is known of the network.
	Bridges []bridge.Line
	// Transports resolves the bridge lines' transport names.
	Transports *transports.Registry
	// StateDir keeps what worked on each network (networks.json, mode 0600). Empty
	// means it is remembered only while the client runs.
	StateDir string
	// Network returns an identity of the network the device is on now; what worked is
	// remembered per identity. Nil means the default routes' interfaces and gateways
	// plus the local address used to reach the first bridge (see defaultNetwork).
	Network func() string
	// HandshakeTimeout bounds one bridge's carrier dial plus session handshake while
	// nothing is known of the network's round trip; 0 means 15 s. Once a connect has
	// measured it, an attempt gets 8 round trips, at least 1.5 s (see handshakeBudget).
	HandshakeTimeout time.Duration
	// HeadStart is how long a bridge has to complete its session handshake before the
	// next one starts too; 0 means 250 ms, or 3 RTTs when this network is known to be
	// slower.
	HeadStart time.Duration
	// Parallel bounds the bridges tried at once; 0 means 4, one per family of
	// transports in the first round (stream, TLS, CDN, UDP).
	Parallel int
	// Idle is how often an idle session pings its gateway, which bounds how long a
	// silent cut goes unnoticed while nothing is sent; see IdlePreset for the battery
	// it costs. The zero value is Foreground; SetIdle switches it at run time.
	Idle IdlePreset
	// Now is the device's clock, which session hellos carry; nil means time.Now.
	// When a gateway ignores hellos because the clock is off, the client learns the
	// offset from a bridge's HTTP Date and says so (EventClock).
	Now func() time.Time
	// Logger receives events; nil discards them.
	Logger *slog.Logger
	// OnEvent, if set, is told of every attempt, failure, loss, resumption and change
	// of active bridge, in order, from one goroutine. It must return quickly and must
	// not call Close.
	OnEvent func(Event)
}

// Client opens streams to services through a gateway. Once asked for a session, by
// Connect or Dial, it keeps one until Close: when a carrier dies it resumes the session
// on another bridge, and when every bridge fails it retries with backoff. Safe for
// concurrent use.
type Client struct {
	cfg      Config
	log      *slog.Logger
	dialers  []transports.Dialer
	keys     []string // each bridge's name in the memory
	families []family // each bridge's family
	patience []patience
	mem      *memory
	clock    clock
	wg       sync.WaitGroup // the run loop and the attempts it started

	mu      sync.Mutex
	cur     current
	idle    IdlePreset
	blocked *ConnectError // the last round's failures, until the next round starts
	retryAt time.Time
	changed chan struct{} // closed and replaced when cur or blocked change
	cancel  context.CancelFunc
	closed  bool
}

// current is the client's session and the carrier it runs on.
type current struct {
	sess    *session.Session
	key     ed25519.PublicKey // the session's gateway
	bridge  int               // the carrier's bridge; -1 while the session waits for one
	network string            // the network the carrier was established on
	carrier *failure.Meter    // the carrier, counting what it delivered
}

// New parses every bridge's transport arguments once (an error names the bridge) and
// loads what was learnt of networks from StateDir. It starts nothing.
func New(cfg Config) (*Client, error) {
	if len(cfg.Bridges) == 0 {
		return nil, errors.New("client: no bridges")
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 15 * time.Second
	}
	if cfg.HeadStart <= 0 {
		cfg.HeadStart = defaultHeadStart
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = defaultParallel
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Network == nil {
		cfg.Network = defaultNetwork(cfg.Bridges[0].Addr)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, log: cfg.Logger, cur: current{bridge: -1}, idle: cfg.Idle, changed: make(chan struct{})}
	c.clock.device = cfg.Now
	c.patience = make([]patience, len(cfg.Bridges))
	mem, err := loadMemory(cfg.StateDir)
	if err != nil {
		c.log.Warn("client: network memory", "err", err)
	}
	c.mem = mem
	for i, b := range cfg.Bridges {
		t, err := cfg.Transports.Get(b.Transport)
		if err != nil {
			return nil, fmt.Errorf("client: bridge %d: %w", i, err)
		}
		d, err := t.NewDialer(b.Addr, b.Args)
		if err != nil {
			return nil, fmt.Errorf("client: bridge %d (%s): %w", i, b.Transport, err)
		}
		c.dialers = append(c.dialers, d)
		c.keys = append(c.keys, mem.bridgeKey(b))
		c.families = append(c.families, familyOf(b))
	}
	return c, nil
}

// Dial opens a stream to the named backend service. It waits for a session while one
// is being established, bounded by ctx; while every bridge is failing it returns the
// last round's *ConnectError at once.
func (c *Client) Dial(ctx context.Context, service string) (net.Conn, error) {
	for attempt := 0; ; attempt++ {
		sess, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		conn, err := sess.OpenStream(ctx, service)
		if err == nil {
			return conn, nil
		}
		// A session that died under us is replaced once; a refusal is the answer.
		if attempt > 0 || !isSessionDead(sess, err) {
			return nil, fmt.Errorf("client: open %q: %w", service, err)
		}
	}
}

func isSessionDead(sess *session.Session, err error) bool {
	return ended(sess) || errors.Is(err, session.ErrClosed)
}

// ended reports whether sess has ended; the run loop is about to replace it.
func ended(sess *session.Session) bool {
	select {
	case <-sess.Done():
		return true
	default:
		return false
	}
}

// Connect starts keeping a session now, instead of at the first Dial, and waits for the
// first one as Dial does.
func (c *Client) Connect(ctx context.Context) error {
	_, err := c.session(ctx)
	return err
}

// Active returns the transport name of the carrier in use, or "" when none.
func (c *Client) Active() string {
	return c.Status().Transport
}

// Status is the client's state, for an app to show.
type Status struct {
	Transport string // the carrier's transport; "" when none
	Bridge    int    // the carrier's bridge index; -1 when none
	// Waiting: a session lost its carrier and waits for a new one; its streams are kept.
	Waiting bool
	// Blocked is the last round's failures while every bridge is failing, and Retry
	// when the next round starts.
	Blocked *ConnectError
	Retry   time.Time
	// ClockOff is how far the device's clock is from the gateway's, as the client
	// learnt it (positive: the device is behind); zero when it is right or unknown.
	ClockOff time.Duration
}

// Status returns the client's state now.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{Bridge: c.cur.bridge, Waiting: c.cur.sess != nil && c.cur.bridge < 0,
		Blocked: c.blocked, Retry: c.retryAt, ClockOff: c.clock.off()}
	if st.Bridge >= 0 {
		st.Transport = c.cfg.Bridges[st.Bridge].Transport
	}
	return st
}

// Close ends the session, stops retrying, and makes further Dials fail. Streams from
// Dial fail too.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cancel := c.cancel
	c.broadcastLocked()
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.wg.Wait()
	c.mu.Lock()
	sess := c.cur.sess
	c.cur = current{bridge: -1}
	c.mu.Unlock()
	if sess != nil {
		sess.Close()
	}
	return nil
}

// session returns the session once it has a carrier, starting the run loop if needed.
func (c *Client) session(ctx context.Context) (*session.Session, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if c.cancel == nil {
			runCtx, cancel := context.WithCancel(context.Background())
			c.cancel = cancel
			c.wg.Go(func() { c.run(runCtx) })
		}
		cur, blocked, changed := c.cur, c.blocked, c.changed
		c.mu.Unlock()
		switch {
		case cur.sess != nil && cur.bridge >= 0 && !ended(cur.sess):
			return cur.sess, nil
		case blocked != nil:
			return nil, blocked
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("client: waiting for a session: %w", ctx.Err())
		}
	}
}

// update changes the client's state under its lock and wakes the Dials waiting on it.
// It reports false, changing nothing, once the client is closed.
func (c *Client) update(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	f()
	c.broadcastLocked()
	return true
}

func (c *Client) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
