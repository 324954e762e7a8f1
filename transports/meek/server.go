package meek

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/utls"
)

const (
	// handshakeTimeout bounds an accepted peer's TLS handshake.
	handshakeTimeout = 15 * time.Second
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

func listen(ctx context.Context, cfg transports.ListenConfig) (*listener, error) {
	args := cfg.Args
	known := append([]string{argTLS, argPlainPublic, argURL, argHost, argPath, argMaxSessions, argFP}, utls.TLSServerArgs...)
	if err := args.Unknown(known...); err != nil {
		return nil, err
	}
	useTLS, err := args.Bool(argTLS, true)
	if err != nil {
		return nil, err
	}
	plainPublic, err := args.Bool(argPlainPublic, false)
	if err != nil {
		return nil, err
	}
	maxSessions, err := args.Int(argMaxSessions, defaultMaxSessions, 1, 1<<20)
	if err != nil {
		return nil, err
	}
	l := &listener{
		decoy:       cfg.Decoy,
		log:         cfg.Logger,
		maxSessions: maxSessions,
		expiry:      sessionExpiry,
		accepted:    make(chan *serverConn, acceptBacklog),
		closed:      make(chan struct{}),
		sessions:    make(map[string]*session),
		rejected:    make(map[string]time.Time),
		conns:       make(map[*trackedConn]struct{}),
	}
	if l.decoy == nil {
		l.decoy = decoy.BuiltIn()
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("transport", Name)

	var serverName string
	if useTLS {
		if _, ok := args[argPlainPublic]; ok {
			return nil, &transports.ArgError{Key: argPlainPublic, Err: errors.New("only means something with tls=false")}
		}
		if l.tls, serverName, err = utls.ServerTLSConfig(args, cfg.StateDir); err != nil {
			return nil, err
		}
	} else {
		if serverName, err = plainServerName(cfg.Addr, args, plainPublic); err != nil {
			return nil, err
		}
	}
	t, err := parseTarget(args, serverName)
	if err != nil {
		return nil, err
	}
	l.path = t.path
	l.bridge = transports.Args{argServerName: serverName, argURL: t.url()}
	if fp, ok := args[argFP]; ok {
		l.bridge[argFP] = fp
	}
	if l.tcp, err = transports.ListenTCP(ctx, cfg.Addr); err != nil {
		return nil, err
	}
	go l.acceptLoop()
	return l, nil
}

// plainServerName checks the arguments of a listener that serves plain HTTP to a
// front and returns the front's TLS server name. Plain HTTP on a public address would
// show a censor the Host and the session ids, so it takes allow-public-plain=true.
func plainServerName(addr string, args transports.Args, plainPublic bool) (string, error) {
	for _, k := range []string{"cert", "key"} {
		if _, ok := args[k]; ok {
			return "", &transports.ArgError{Key: k, Err: errors.New("a certificate needs tls=true; with tls=false the front terminates TLS")}
		}
	}
	serverName, err := args.Required(argServerName)
	if err != nil {
		return "", &transports.ArgError{Key: argServerName, Err: fmt.Errorf("%w: with tls=false, the front's TLS server name, which clients send and bridge lines carry", transports.ErrMissingArg)}
	}
	if net.ParseIP(serverName) != nil {
		return "", &transports.ArgError{Key: argServerName, Err: fmt.Errorf("want a DNS name, got the IP %s", serverName)}
	}
	if !plainPublic && !isLoopback(addr) {
		return "", &transports.ArgError{Key: argTLS, Err: fmt.Errorf("tls=false serves plain HTTP, and %s is not a loopback address: listen on 127.0.0.1 behind the front, or set allow-public-plain=true if the front reaches this host over a network you trust", addr)}
	}
	return serverName, nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
	var delay time.Duration
	for {
		c, err := l.tcp.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors, most likely: wait for some to free, as
			// net/http's server does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("accept failed; retrying", "err", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		tc := l.track(c)
		if tc == nil {
			c.Close()
			continue
		}
		go l.serveConn(tc)
	}
}

// trackedConn is an accepted TCP connection; busy while it carries a request, so
// shutting down closes only idle ones.
type trackedConn struct {
	net.Conn
	busy bool // guarded by listener.mu
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

func (l *listener) serveConn(tc *trackedConn) {
	defer func() {
		tc.Close()
		l.mu.Lock()
		delete(l.conns, tc)
		l.mu.Unlock()
	}()
	var conn net.Conn = tc
	if l.tls != nil {
		if conn = l.handshake(tc); conn == nil {
			return
		}
	}
	l.serveHTTP(tc, conn)
}

// handshake terminates TLS on c. Plain HTTP sent to the TLS port gets nginx's page for
// exactly that, as the utls transport answers it.
func (l *listener) handshake(c net.Conn) net.Conn {
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	if err != nil {
		return nil
	}
	pc := &bufferedConn{Conn: c, r: br}
	const tlsHandshakeRecord = 0x16
	if first[0] != tlsHandshakeRecord && first[0] >= 'A' && first[0] <= 'Z' {
		decoy.Serve(pc, nil, decoy.PlainHTTPOnTLSPort())
		return nil
	}
	tc := tls.Server(pc, l.tls)
	if err := tc.Handshake(); err != nil {
		l.log.Debug("TLS handshake failed", "reason", handshakeFailure(err))
		return nil
	}
	c.SetDeadline(time.Time{})
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

// bufferedConn reads through r, which holds bytes already peeked from Conn.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
