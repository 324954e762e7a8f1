// Package transports defines the contract every DPI-bypass transport implements and the
// registry that maps a bridge line's transport name to its implementation.
// It knows nothing of sessions: a transport only turns an address into a byte stream.
package transports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/transports/admission"
)

// A Transport makes byte streams that look like something a censor lets through.
// Both sides deal in net.Conn; the session layer runs on top and never learns which
// transport carries it.
type Transport interface {
	// Name is the transport's name in bridge lines ("tcp", "utls", …).
	Name() string
	// NewDialer parses a bridge line's address and arguments once and returns the
	// client side. Errors name the offending argument.
	NewDialer(addr string, args Args) (Dialer, error)
	// Listen starts the server side on cfg.Addr.
	Listen(ctx context.Context, cfg ListenConfig) (Listener, error)
}

// A Dialer reaches one bridge: its destination was fixed when it was built.
type Dialer interface {
	// Dial opens a new carrier connection. It returns when ctx is done.
	Dial(ctx context.Context) (net.Conn, error)
}

// A ListenChecker checks a listener's configuration without listening: the arguments
// Listen would refuse, and the files they name (certificates, keys, state), generating
// and binding nothing. The gateway's --check asks each transport that is one; every
// transport of this module is.
type ListenChecker interface {
	// CheckListen returns what Listen would refuse in cfg, its errors naming the
	// argument (an ArgError) where one is at fault.
	CheckListen(cfg ListenConfig) error
}

// A Listener is a net.Listener that also tells what a client needs to reach it.
type Listener interface {
	net.Listener
	// BridgeArgs are the transport arguments a client's bridge line needs for this
	// listener (a TLS server name, an obfs4 cert, …); the session's key and secret
	// are added by the gateway.
	BridgeArgs() Args
}

// ListenConfig is what the gateway gives a transport's server side.
type ListenConfig struct {
	// Addr is the local address to bind ("0.0.0.0:443").
	Addr string
	// Args are transport-specific server options from the gateway config.
	Args Args
	// StateDir is where the transport keeps keys or certificates it generates
	// (files mode 0600). Empty means an in-memory, per-run state.
	StateDir string
	// Decoy is the website shown to peers that fail authentication on transports that
	// look like HTTP. Nil means a built-in plain page.
	Decoy http.Handler
	// Logger receives the transport's own events; nil discards them.
	Logger *slog.Logger
	// Admission is the listener's share of the gateway's connection budget: a
	// transport that runs a handshake of its own before Accept returns a conn (obfs4,
	// the web fronts) takes each raw conn into it, holds rejected peers through it,
	// and closes unauthenticated raw peers at its CloseAt. Nil bounds nothing.
	Admission *admission.Pool
}

// A Rejecter is a server-side conn whose transport answers an unauthenticated peer in
// its own way (an HTTPS transport serves the decoy website). prefix holds the bytes the
// gateway already read from the conn. Reject returns when the conn is finished with and
// closed. Conns that are not Rejecters are read and discarded by the gateway until a
// randomised timeout, so a prober sees nothing.
type Rejecter interface {
	Reject(prefix []byte)
}

// A Handshaking conn is one Accept returned before its transport handshake ended (utls
// runs TLS in the background, so a slow peer cannot hold up Accept). HandshakeDone is
// closed when the handshake has ended, either way; the gateway starts the clock for the
// peer's first bytes there.
type Handshaking interface {
	HandshakeDone() <-chan struct{}
}

// ErrUnknownTransport is returned for a transport name no registry entry has.
var ErrUnknownTransport = errors.New("unknown transport")

// Registry maps transport names to transports. It is built explicitly, listing each
// transport, so a reader can see what a binary contains.
type Registry struct {
	byName map[string]Transport
}

// NewRegistry returns a registry of ts; two transports with one name are an error.
func NewRegistry(ts ...Transport) (*Registry, error) {
	r := &Registry{byName: make(map[string]Transport, len(ts))}
	for _, t := range ts {
		name := t.Name()
		if _, dup := r.byName[name]; dup {
			return nil, fmt.Errorf("transport %q registered twice", name)
		}
		r.byName[name] = t
	}
	return r, nil
}

// Get returns the transport called name.
func (r *Registry) Get(name string) (Transport, error) {
	t, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknownTransport, name, r.Names())
	}
	return t, nil
}

// Close closes the transports that run something of their own, those that are
// io.Closers (the pt transport's client programs), in the order of Names, and returns
// their errors joined. Their dialers fail afterwards; listeners are closed on their own.
func (r *Registry) Close() error {
	var errs []error
	for _, name := range r.Names() {
		if c, ok := r.byName[name].(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close transport %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Names lists the registered transports in sorted order.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// A Dated carrier learnt its server's clock from an HTTP Date header: the answer of the
// front or the gateway that set the carrier up (an Upgrade's 101, meek's responses). A
// client whose session hellos go unanswered compares its own clock with it, since a
// gateway ignores hellos from a clock minutes off.
type Dated interface {
	// ServerDate returns the last Date the server sent; zero if none came.
	ServerDate() time.Time
}

// ServerClock keeps the last HTTP Date a carrier's server sent; a conn that embeds one
// is Dated. Safe for concurrent use; the zero value is ready.
type ServerClock struct{ unix atomic.Int64 }

// SawHeader records h's Date, if it has a valid one.
func (c *ServerClock) SawHeader(h http.Header) {
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		c.unix.Store(t.Unix())
	}
}

// ServerDate returns the last Date recorded; zero if none was.
func (c *ServerClock) ServerDate() time.Time {
	if u := c.unix.Load(); u != 0 {
		return time.Unix(u, 0)
	}
	return time.Time{}
}
