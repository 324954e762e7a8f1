package meek

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/admission"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/tlskit"
	"github.com/umbrella-edge/edge/transports/trust"
)

const (
	// acceptBacklog bounds sessions created but not yet taken by Accept.
	acceptBacklog = 128
	// defaultMaxSessions bounds live sessions per listener; each holds at most two
	// queueSize buffers.
	defaultMaxSessions = 1024
)

type listener struct {
	tcp         net.Listener
	tls         *tls.Config // nil: plain HTTP behind a front that terminates TLS
	path        string
	decoy       http.Handler
	bridge      transports.Args
	log         *slog.Logger
	pool        *admission.Pool // places for connections until their first request
	maxSessions int
	expiry      time.Duration // sessionExpiry; shorter in tests

	accepted chan *serverConn
	closed   chan struct{} // Close was called

	mu       sync.Mutex
	closing  bool                 // no new sessions
	shut     bool                 // the TCP listener is closed
	sessions map[string]*session  // by X-Session-Id
	rejected map[string]time.Time // ids the gateway rejected, until when they get the decoy
	conns    map[*trackedConn]struct{}
}

// serverArgs is a listener's arguments read: max-sessions=, url='s target (nil
// without url=), and the web front's own arguments (tls=, servername=, path=, …),
// which the other web transports read alike; url= is meek's way of giving host and
// path.
type serverArgs struct {
	maxSessions int
	target      *target
	front       transports.Args
}

func parseServerArgs(args transports.Args) (serverArgs, error) {
	known := append([]string{argURL, argHost, argMaxSessions, argFP}, httpfront.ServerArgs...)
	if err := args.Unknown(known...); err != nil {
		return serverArgs{}, err
	}
	maxSessions, err := args.Int(argMaxSessions, defaultMaxSessions, 1, 1<<20)
	if err != nil {
		return serverArgs{}, err
	}
	sa := serverArgs{maxSessions: maxSessions, front: args.Clone()}
	for _, k := range []string{argURL, argHost, argMaxSessions, argFP} {
		delete(sa.front, k)
	}
	if _, hasURL := args[argURL]; hasURL {
		t, err := parseTarget(args, "", "")
		if err != nil {
			return serverArgs{}, err
		}
		sa.target = &t
		sa.front[argPath] = t.path
	} else if host, ok := args[argHost]; ok {
		if err := checkHost(host); err != nil {
			return serverArgs{}, &transports.ArgError{Key: argHost, Err: err}
		}
	}
	return sa, nil
}

func checkListen(cfg transports.ListenConfig) error {
	sa, err := parseServerArgs(cfg.Args)
	if err != nil {
		return err
	}
	return httpfront.CheckOptions(cfg.Addr, sa.front, cfg.StateDir)
}

func listen(ctx context.Context, cfg transports.ListenConfig) (*listener, error) {
	args := cfg.Args
	sa, err := parseServerArgs(args)
	if err != nil {
		return nil, err
	}
	opts, err := httpfront.ParseOptions(cfg.Addr, sa.front, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	var t target
	if sa.target != nil {
		t = *sa.target
	} else {
		t = target{host: args.Get(argHost, opts.ServerName), path: opts.Path}
		if err := checkHost(t.host); err != nil {
			return nil, &transports.ArgError{Key: argHost, Err: err}
		}
	}
	l := &listener{
		tls:         opts.TLS,
		path:        opts.Path,
		decoy:       cfg.Decoy,
		log:         cfg.Logger,
		pool:        cfg.Admission,
		maxSessions: sa.maxSessions,
		expiry:      sessionExpiry,
		accepted:    make(chan *serverConn, acceptBacklog),
		closed:      make(chan struct{}),
		sessions:    make(map[string]*session),
		rejected:    make(map[string]time.Time),
		conns:       make(map[*trackedConn]struct{}),
		bridge:      transports.Args{argServerName: opts.ServerName, argURL: t.url()},
	}
	if opts.Pin != "" {
		l.bridge[trust.PinArg] = opts.Pin
	}
	if l.decoy == nil {
		l.decoy = decoy.BuiltIn()
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("transport", Name)
	if fp, ok := args[argFP]; ok {
		l.bridge[argFP] = fp
	}
	if l.tcp, err = transports.ListenTCP(ctx, cfg.Addr); err != nil {
		return nil, err
	}
	go l.acceptLoop()
	return l, nil
}

func (l *listener) BridgeArgs() transports.Args { return l.bridge.Clone() }

func (l *listener) Addr() net.Addr { return l.tcp.Addr() }

// Accept returns the next new session. Sessions arrive as requests, not connections:
// one TCP connection (from a front's pool) carries requests of many sessions.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, l.errClosed()
	default:
	}
	select {
	case c := <-l.accepted:
		return c, nil
	case <-l.closed:
		return nil, l.errClosed()
	}
}

func (l *listener) errClosed() error {
	return &net.OpError{Op: "accept", Net: "tcp", Addr: l.tcp.Addr(), Err: net.ErrClosed}
}

// Close stops new sessions at once. Sessions already accepted go on, and so does the
// TCP listener while they do, because a front may open new connections for them; it
// closes when the last one ends.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return nil
	}
	l.closing = true
	close(l.closed)
	var done []*session // closed by the gateway: only waiting to tell their clients
	for _, s := range l.sessions {
		if st, _ := s.conn.pipe.state(); st.closed {
			done = append(done, s)
		}
	}
	l.mu.Unlock()
	for _, s := range done {
		s.remove()
	}
	for {
		select {
		case c := <-l.accepted:
			c.Close() // created, never accepted: the client sees its session close
			continue
		default:
		}
		break
	}
	l.shutdownIfIdle()
	return nil
}

func (l *listener) shutdownIfIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closing || l.shut || len(l.sessions) > 0 {
		return
	}
	l.shut = true
	l.tcp.Close()
	for c := range l.conns {
		if !c.busy {
			c.Close()
		}
	}
}

func (l *listener) acceptLoop() {
	for {
		c, err := transports.Accept(l.tcp, nil, l.log)
		if err != nil {
			return
		}
		adm := l.admit(c)
		tc := l.track(adm.conn)
		if tc == nil {
			adm.release()
			c.Close()
			continue
		}
		go l.serveConn(tc, adm)
	}
}

// trackedConn is an accepted TCP connection; busy while it carries a request, so
// shutting down closes only idle ones.
type trackedConn struct {
	net.Conn
	busy bool // guarded by listener.mu
}

// CloseWrite sends the FIN that ends a lingering close, as nginx sends it with its
// answer; without it the peer would see the connection end only when the linger does.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (l *listener) track(c net.Conn) *trackedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shut {
		return nil
	}
	tc := &trackedConn{Conn: c}
	l.conns[tc] = struct{}{}
	return tc
}

// setBusy marks c busy or idle and reports whether it may go on.
func (l *listener) setBusy(c *trackedConn, busy bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c.busy = busy
	return !l.shut
}

func (l *listener) serveConn(tc *trackedConn, adm *admitted) {
	defer func() {
		adm.release()
		tc.Close()
		l.mu.Lock()
		delete(l.conns, tc)
		l.mu.Unlock()
	}()
	var conn net.Conn = tc
	if l.tls != nil {
		if conn = l.handshake(adm.ctx, tc); conn == nil {
			return
		}
	}
	l.serveHTTP(tc, conn, adm)
}

// handshake terminates TLS on c, meeting what is not a TLS client as nginx with
// OpenSSL does (tlskit.ServerHandshake), until ctx ends: nginx's client_header_timeout
// from accept, which also bounds the first request's head (c's read deadline stays
// at it).
func (l *listener) handshake(ctx context.Context, c net.Conn) net.Conn {
	tc, err := tlskit.ServerHandshake(ctx, c, l.tls)
	if err != nil {
		l.log.Debug("TLS handshake failed", "reason", handshakeFailure(err))
		return nil
	}
	return tc
}

// handshakeFailure names why a handshake failed without net's error text, which
// carries the client's address.
func handshakeFailure(err error) string {
	var rhe tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.As(err, &rhe):
		return "not TLS"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF):
		return "peer closed"
	}
	return "handshake error"
}
