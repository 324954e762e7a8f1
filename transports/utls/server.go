package utls

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
)

// handshakeTimeout bounds the TLS handshake of an accepted conn, so a peer that
// connects and stalls holds a socket for seconds, not forever.
const handshakeTimeout = 15 * time.Second

type listener struct {
	net.Listener
	tls   *tls.Config
	decoy http.Handler
	args  transports.Args
	log   *slog.Logger
}

func listen(ctx context.Context, cfg transports.ListenConfig) (*listener, error) {
	if err := cfg.Args.Unknown(argServerName, argCert, argKey, argFP); err != nil {
		return nil, err
	}
	if fp, ok := cfg.Args[argFP]; ok {
		if _, err := profileFor(fp); err != nil {
			return nil, &transports.ArgError{Key: argFP, Err: err}
		}
	}
	cert, serverName, err := loadOrCreateCert(cfg.Args, cfg.StateDir, time.Now())
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := cfg.Decoy
	if h == nil {
		h = decoy.BuiltIn()
	}
	lc := net.ListenConfig{KeepAliveConfig: keepalive}
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	args := transports.Args{argServerName: serverName}
	if fp, ok := cfg.Args[argFP]; ok {
		args[argFP] = fp
	}
	return &listener{
		Listener: ln,
		tls: &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS13,
			// The decoy site speaks HTTP/1.1; a browser that offers h2 settles for it,
			// as it would with an nginx that has h2 switched off.
			NextProtos: []string{"http/1.1"},
		},
		decoy: h,
		args:  args,
		log:   log.With("transport", Name),
	}, nil
}

// Accept returns at once and the TLS handshake runs in the background, so a slow peer
// cannot hold up the next Accept, and a client's Dial completes before the server side
// first reads or writes. The conn's Read and Write wait for the handshake.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &serverConn{Conn: tls.Server(c, l.tls), decoy: l.decoy, log: l.log}
	go sc.handshake()
	return sc, nil
}

func (l *listener) BridgeArgs() transports.Args { return l.args.Clone() }

// serverConn is an accepted TLS conn whose handshake is bounded by handshakeTimeout and
// which shows the decoy website when the gateway rejects its peer.
type serverConn struct {
	*tls.Conn
	decoy   http.Handler
	log     *slog.Logger
	once    sync.Once
	hsError error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.log.Debug("TLS handshake failed", "err", err)
			c.hsError = fmt.Errorf("%s: TLS handshake: %w", Name, err)
		}
	})
	return c.hsError
}

func (c *serverConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *serverConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Reject serves the decoy website over the TLS session, starting with the bytes the
// gateway already read from it, as an HTTPS server would answer them.
func (c *serverConn) Reject(prefix []byte) {
	if err := c.handshake(); err != nil {
		c.Close() // not TLS: crypto/tls has already answered with an alert, as nginx would
		return
	}
	decoy.Serve(c.Conn, prefix, c.decoy)
}
