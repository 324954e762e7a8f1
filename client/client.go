// Package client is the user's side: it holds a session to a gateway over one of its
// bridge lines and opens streams to named services through it. The local proxies
// that expose it to ordinary apps live in client/proxy.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// Config is what a client runs with.
type Config struct {
	// Bridges are tried in order.
	Bridges []config.Bridge
	// Transports resolves the bridge lines' transport names.
	Transports *transports.Registry
	// HandshakeTimeout bounds one bridge's carrier dial plus session handshake; 0 means 15 s.
	HandshakeTimeout time.Duration
	// Logger receives events; nil discards them.
	Logger *slog.Logger
	// OnEvent, if set, is told of every attempt, failure and change of active bridge.
	OnEvent func(Event)
}

// Event is something the client did, for an app to show or log.
type Event struct {
	Kind   EventKind
	Bridge int    // index into Config.Bridges
	Name   string // transport name
	Err    error  // for EventFailed
}

// EventKind says what an Event reports.
type EventKind int

const (
	EventAttempt EventKind = iota // trying a bridge
	EventFailed                   // a bridge failed; Err says why
	EventActive                   // a session is established on a bridge
	EventLost                     // the active session ended
)

func (k EventKind) String() string {
	return [...]string{"attempt", "failed", "active", "lost"}[k]
}

// ErrAllBridgesFailed is wrapped by the error Dial returns when no bridge gave a session.
var ErrAllBridgesFailed = errors.New("all bridges failed")

// BridgeError is one bridge's failure.
type BridgeError struct {
	Bridge    int
	Transport string
	Err       error
}

func (e *BridgeError) Error() string {
	return fmt.Sprintf("bridge %d (%s): %v", e.Bridge, e.Transport, e.Err)
}
func (e *BridgeError) Unwrap() error { return e.Err }

// ConnectError lists every bridge's failure. It matches ErrAllBridgesFailed with
// errors.Is, and session.ErrAuth when any bridge's gateway failed to prove its key.
type ConnectError struct{ Failures []*BridgeError }

func (e *ConnectError) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = f.Error()
	}
	return fmt.Sprintf("%v: %s", ErrAllBridgesFailed, strings.Join(parts, "; "))
}

func (e *ConnectError) Unwrap() []error {
	errs := []error{ErrAllBridgesFailed}
	for _, f := range e.Failures {
		errs = append(errs, f)
	}
	return errs
}

// Client opens streams to services through a gateway. It keeps one session and
// reconnects on demand when it ends. Safe for concurrent use.
type Client struct {
	cfg     Config
	log     *slog.Logger
	dialers []transports.Dialer

	connecting chan struct{} // a token held while establishing a session, so only one is made
	mu         sync.Mutex
	sess       *session.Session
	active     int // bridge index of sess, -1 when none
	closed     bool
}

// New parses every bridge's transport arguments once; an error names the bridge.
func New(cfg Config) (*Client, error) {
	if len(cfg.Bridges) == 0 {
		return nil, errors.New("client: no bridges")
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: cfg.Logger, active: -1, connecting: make(chan struct{}, 1)}
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
	}
	return c, nil
}

// Dial opens a stream to the named backend service.
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
	select {
	case <-sess.Done():
		return true
	default:
		return errors.Is(err, session.ErrClosed)
	}
}

// Connect establishes a session now, if there is none, instead of at the first Dial.
func (c *Client) Connect(ctx context.Context) error {
	_, err := c.session(ctx)
	return err
}

// Active returns the transport name of the current session, or "" when none.
func (c *Client) Active() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active < 0 {
		return ""
	}
	return c.cfg.Bridges[c.active].Transport
}

// Close ends the session and makes further Dials fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.sess != nil {
		c.sess.Close()
	}
	return nil
}

// session returns the live session, establishing one if there is none.
func (c *Client) session(ctx context.Context) (*session.Session, error) {
	if s := c.current(); s != nil {
		return s, nil
	}
	// A Dial must not wait forever behind another Dial's connection attempt.
	select {
	case c.connecting <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("client: %w", ctx.Err())
	}
	defer func() { <-c.connecting }()
	if s := c.current(); s != nil { // someone else connected while we waited
		return s, nil
	}
	sess, idx, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		sess.Close()
		return nil, session.ErrClosed
	}
	c.sess, c.active = sess, idx
	c.mu.Unlock()
	go c.watch(sess, idx)
	return sess, nil
}

func (c *Client) current() *session.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.sess == nil {
		return nil
	}
	select {
	case <-c.sess.Done():
		return nil
	default:
		return c.sess
	}
}

func (c *Client) watch(sess *session.Session, idx int) {
	<-sess.Done()
	c.mu.Lock()
	if c.sess == sess {
		c.sess, c.active = nil, -1
	}
	c.mu.Unlock()
	c.emit(Event{Kind: EventLost, Bridge: idx, Name: c.cfg.Bridges[idx].Transport})
}

// connect tries the bridges in order. Racing and failover come with the next issue.
func (c *Client) connect(ctx context.Context) (*session.Session, int, error) {
	var failures []*BridgeError
	for i, b := range c.cfg.Bridges {
		c.emit(Event{Kind: EventAttempt, Bridge: i, Name: b.Transport})
		sess, err := c.connectOne(ctx, i)
		if err == nil {
			c.emit(Event{Kind: EventActive, Bridge: i, Name: b.Transport})
			return sess, i, nil
		}
		be := &BridgeError{Bridge: i, Transport: b.Transport, Err: err}
		c.emit(Event{Kind: EventFailed, Bridge: i, Name: b.Transport, Err: err})
		failures = append(failures, be)
		if ctx.Err() != nil {
			return nil, -1, fmt.Errorf("client: %w", ctx.Err())
		}
	}
	return nil, -1, &ConnectError{Failures: failures}
}

func (c *Client) connectOne(ctx context.Context, i int) (*session.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	b := c.cfg.Bridges[i]
	conn, err := c.dialers[i].Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	sess, err := session.Client(ctx, conn, &session.ClientConfig{
		GatewayKey: b.Key,
		Secret:     b.Secret,
		Endpoint:   b.Endpoint(),
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("session: %w", err)
	}
	return sess, nil
}

func (c *Client) emit(e Event) {
	attrs := []any{"bridge", e.Bridge, "transport", e.Name}
	switch e.Kind {
	case EventFailed:
		c.log.Warn("bridge failed", append(attrs, "err", e.Err)...)
	case EventActive:
		c.log.Info("connected", attrs...)
	case EventLost:
		c.log.Info("session lost", attrs...)
	default:
		c.log.Debug("trying bridge", attrs...)
	}
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(e)
	}
}
