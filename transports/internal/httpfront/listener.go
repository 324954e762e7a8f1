// Package httpfront is the web-server side shared by the transports that look like a
// website (webtunnel, websocket): TLS or plain HTTP behind a reverse proxy, one secret
// path, the decoy site for everything else, and the client's TLS dial. It knows nothing
// of what a transport does after its HTTP Upgrade.
package httpfront

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/admission"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// Config is a web front listener's setup.
type Config struct {
	Options
	// Name is the transport's name, for logs.
	Name string
	// Decoy is the site every request that is not the transport's own gets; nil means
	// the built-in one.
	Decoy http.Handler
	// Logger receives debug events, never client addresses; nil discards them.
	Logger *slog.Logger
	// Match reports whether a GET of the secret path is the transport's own (it checks
	// the Upgrade headers); a request it refuses gets the decoy.
	Match func(*http.Request) bool
	// Upgrade answers a matched request on c and returns the carrier. An error closes c.
	Upgrade func(c *Conn, req *http.Request) (net.Conn, error)
	// Admission bounds the peers in their TLS handshake or request head, and those
	// in the decoy site (transports.ListenConfig.Admission); nil bounds nothing.
	Admission *admission.Pool
}

// Listener accepts TCP, finishes TLS and the HTTP Upgrade of each peer in the
// background, and returns from Accept only the conns whose request was the
// transport's own; all others are served the decoy site.
type Listener struct {
	raw   net.Listener
	cfg   Config
	log   *slog.Logger
	ready chan net.Conn
	done  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{} // conns between TCP accept and Accept, or in the decoy
}

// Listen binds addr and starts accepting.
func Listen(ctx context.Context, addr string, cfg Config) (*Listener, error) {
	if cfg.Decoy == nil {
		cfg.Decoy = decoy.BuiltIn()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	raw, err := transports.ListenTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	l := &Listener{
		raw:     raw,
		cfg:     cfg,
		log:     log.With("transport", cfg.Name),
		ready:   make(chan net.Conn),
		done:    make(chan struct{}),
		pending: make(map[net.Conn]struct{}),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Accept returns the next peer whose request was the transport's own, upgraded.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the conns not yet returned by Accept.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return net.ErrClosed
	}
	l.closed = true
	close(l.done)
	for c := range l.pending {
		c.Close()
	}
	l.mu.Unlock()
	err := l.raw.Close()
	l.wg.Wait()
	return err
}

// Addr is the bound address.
func (l *Listener) Addr() net.Addr { return l.raw.Addr() }

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	for {
		raw, err := transports.Accept(l.raw, l.done, l.log)
		if err != nil {
			return
		}
		if !l.track(raw) {
			raw.Close()
			return
		}
		l.wg.Add(1)
		go l.serve(raw)
	}
}

// track records raw as pending, unless the listener is closed.
func (l *Listener) track(raw net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.pending[raw] = struct{}{}
	return true
}

func (l *Listener) untrack(raw net.Conn) {
	l.mu.Lock()
	delete(l.pending, raw)
	l.mu.Unlock()
}

// serve takes one peer from TCP accept to either Accept or the decoy. Until its
// request is read it holds a place in the listener's pool; a newcomer to a full pool
// may push it out, and it is then cut off as nginx cuts off a peer that ran out of its
// patience.
func (l *Listener) serve(raw net.Conn) {
	defer l.wg.Done()
	delivered := false
	defer func() {
		if !delivered {
			l.untrack(raw)
		}
	}()
	deadline := time.Now().Add(decoy.HeaderTimeout) // from accept, as nginx's
	raw.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	ticket := l.cfg.Admission.Admit(raw, func() { cancel(); raw.SetDeadline(longAgo) })
	conn, ok := l.handshake(ctx, ticket.Watch(raw, nil))
	if !ok {
		ticket.Release()
		return
	}
	got, n, err := ReadHead(conn)
	if ticket.Release() {
		conn.Close()
		return
	}
	if err != nil {
		if len(got) == 0 || isTimeout(err) {
			// Nothing to answer, or the peer ran out of nginx's patience: nginx closes.
			conn.Close()
		} else {
			l.serveDecoy(conn, got, deadline)
		}
		return
	}
	req, err := ParseRequest(got[:n])
	if err != nil || !l.ours(req) {
		l.serveDecoy(conn, got, deadline)
		return
	}
	carrier, err := l.cfg.Upgrade(NewConn(conn, got[n:], l.remoteAddr(req)), req)
	if err != nil {
		l.log.Debug("upgrade failed", "reason", failure(err))
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{}) // the carrier's owner sets its own from now on
	delivered = true
	l.deliver(raw, carrier)
}

// serveDecoy answers the peer with the decoy site, as one of the gateway's held
// peers: when too many are held, the oldest is closed.
func (l *Listener) serveDecoy(conn net.Conn, got []byte, headDeadline time.Time) {
	release, ok := l.cfg.Admission.Hold(func() { conn.Close() })
	if !ok {
		conn.Close()
		return
	}
	defer release()
	decoy.ServeBy(conn, got, l.cfg.Decoy, headDeadline)
}

// handshake runs the TLS handshake when the listener terminates TLS, meeting what is
// not a TLS client as nginx meets it (tlskit.ServerHandshake), until ctx ends.
func (l *Listener) handshake(ctx context.Context, raw net.Conn) (net.Conn, bool) {
	if l.cfg.TLS == nil {
		return raw, true
	}
	tc, err := tlskit.ServerHandshake(ctx, raw, l.cfg.TLS)
	if err != nil {
		l.log.Debug("TLS handshake failed", "reason", failure(err))
		return nil, false
	}
	return tc, true
}

// ours reports whether req is a GET of the secret path that the transport accepts. The
// path is compared in constant time: timing must not tell a prober how much it guessed.
func (l *Listener) ours(req *http.Request) bool {
	return req.Method == http.MethodGet &&
		subtle.ConstantTimeCompare([]byte(req.RequestURI), []byte(l.cfg.Path)) == 1 &&
		l.cfg.Match(req)
}

// remoteAddr is the client address a reverse proxy reported, in plain mode only: with
// TLS here there is no proxy, and the header is whatever the client claims.
func (l *Listener) remoteAddr(req *http.Request) net.Addr {
	if l.cfg.TLS != nil {
		return nil
	}
	return forwardedFor(req.Header)
}

// forwardedFor is the address last in X-Forwarded-For: nginx's
// $proxy_add_x_forwarded_for appends the address it saw, so earlier entries are
// whatever the client claimed. Nil when there is none.
func forwardedFor(h http.Header) net.Addr {
	xff := h.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return nil
	}
	last := xff[len(xff)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	ip := net.ParseIP(strings.TrimSpace(last))
	if ip == nil {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}

// deliver hands carrier to Accept, or closes it when the listener closes first. Once
// raw is no longer pending, Close leaves it to the select.
func (l *Listener) deliver(raw, carrier net.Conn) {
	l.untrack(raw)
	select {
	case l.ready <- carrier:
	case <-l.done:
		carrier.Close()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// failure names why a handshake failed without the addresses that net's errors
// carry, so logs hold no client IP.
func failure(err error) string {
	var rhe tls.RecordHeaderError
	var oe *net.OpError
	switch {
	case errors.As(err, &rhe):
		return "not TLS"
	case isTimeout(err):
		return "timeout"
	case errors.Is(err, io.EOF):
		return "peer closed"
	case errors.As(err, &oe):
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}
