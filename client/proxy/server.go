package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/internal/relay"
	"github.com/umbrella-edge/edge/transports"
)

// Defaults for Server's zero fields.
const (
	DefaultRequestTimeout = 30 * time.Second
	// DefaultDialTimeout leaves room for a client trying several bridges in turn,
	// each with its own 15 s handshake timeout.
	DefaultDialTimeout = time.Minute
)

// Server accepts app connections and relays each, through its Handler, to a service.
// Its zero value (with a Handler) is ready to use; one Server may Serve several
// listeners at once.
type Server struct {
	// Handler turns each app connection into a stream; required.
	Handler Handler
	// RequestTimeout bounds how long an app may take to send its request before it is
	// dropped; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// DialTimeout bounds opening the stream to the service; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// Logger receives events; nil discards them. Hosts apps ask for are logged at
	// debug level only.
	Logger *slog.Logger
}

// Serve accepts connections on ln until ctx is done (it then returns nil) or ln is
// closed under it (it returns the error); other accept errors are logged and retried. Either way it closes ln and every connection it proxied,
// and returns only after all its goroutines have.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		return errors.New("proxy: serve: Server.Handler is nil")
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		log.Warn("proxy listens beyond loopback: anyone who reaches it uses your bridges", "addr", a.String())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var live liveConns
	var wg sync.WaitGroup
	var err error
	for {
		// A failing accept (out of file descriptors) is retried after a back-off.
		conn, aerr := transports.Accept(ln, ctx.Done(), log)
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("proxy: accept on %s: %w", ln.Addr(), aerr)
			}
			break
		}
		wg.Go(func() { s.handle(ctx, log, conn, &live) })
	}
	cancel()
	ln.Close()
	live.closeAll()
	wg.Wait()
	return err
}

func (s *Server) handle(ctx context.Context, log *slog.Logger, app net.Conn, live *liveConns) {
	if !live.add(app) {
		app.Close()
		return
	}
	defer live.remove(app)

	app.SetReadDeadline(time.Now().Add(orDefault(s.RequestTimeout, DefaultRequestTimeout)))
	dctx, cancel := context.WithTimeout(ctx, orDefault(s.DialTimeout, DefaultDialTimeout))
	up, target, err := s.Handler.Open(dctx, app)
	cancel()
	if err != nil {
		app.Close()
		logFailure(ctx, log, target, err)
		return
	}
	if !live.add(up) {
		app.Close()
		up.Close()
		return
	}
	defer live.remove(up)
	app.SetReadDeadline(time.Time{})

	log.Debug("proxying", "service", target.Service, "host", target.Host)
	var sent, received counter
	relay.Splice(app, up, &sent, &received)
	log.Debug("proxied stream closed", "service", target.Service, "host", target.Host,
		"sent", sent.Load(), "received", received.Load())
}

// logFailure logs a failed request at a level that says whether a person should care,
// and names the host only when debug logging is on.
func logFailure(ctx context.Context, log *slog.Logger, t Target, err error) {
	level, msg := slog.LevelDebug, "request failed" // apps hanging up are not news
	var de *DialError
	switch {
	case errors.Is(err, context.Canceled): // shutting down
	case errors.As(err, &de):
		level = slog.LevelWarn
	case errors.Is(err, ErrNotAllowed), errors.Is(err, ErrUnsupported):
		level, msg = slog.LevelInfo, "request refused"
	}
	attrs := []any{"err", err}
	if t.Service != "" {
		attrs = append(attrs, "service", t.Service)
	}
	if t.Host != "" && log.Enabled(ctx, slog.LevelDebug) {
		attrs = append(attrs, "host", t.Host)
	}
	log.Log(ctx, level, msg, attrs...)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// counter counts relayed bytes; relay.Splice wants a prometheus-shaped Add.
type counter struct{ atomic.Uint64 }

func (c *counter) Add(n float64) { c.Uint64.Add(uint64(n)) }

// liveConns is every connection a Serve call must close when it stops.
type liveConns struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// add tracks c, or reports false when Serve is already stopping.
func (l *liveConns) add(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if l.conns == nil {
		l.conns = make(map[net.Conn]struct{})
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *liveConns) remove(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

func (l *liveConns) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for c := range l.conns {
		c.Close()
	}
}
