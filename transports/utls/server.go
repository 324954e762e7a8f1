package utls

import (
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
)

// TLSServerArgs are the listener arguments ServerTLSConfig reads.
var TLSServerArgs = []string{argServerName, argCert, argKey}

// ServerTLSConfig is the TLS server side of every transport that speaks TLS: the
// operator's cert= and key= files, or a self-signed certificate for servername= kept in
// stateDir (in memory when stateDir is empty). It returns the server name bridge lines
// carry. The site speaks HTTP/1.1 only: a browser that offers h2 settles for it, as it
// would with an nginx that has h2 switched off, and an HTTP Upgrade needs HTTP/1.1.
func ServerTLSConfig(args transports.Args, stateDir string) (*tls.Config, string, error) {
	cert, serverName, err := loadOrCreateCert(args, stateDir, time.Now())
	if err != nil {
		return nil, "", err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{"http/1.1"},
	}, serverName, nil
}

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
	if err := cfg.Args.Unknown(append(TLSServerArgs, argFP)...); err != nil {
		return nil, err
	}
	if fp, ok := cfg.Args[argFP]; ok {
		if _, err := profileFor(fp); err != nil {
			return nil, &transports.ArgError{Key: argFP, Err: err}
		}
	}
	tlsConfig, serverName, err := ServerTLSConfig(cfg.Args, cfg.StateDir)
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
	ln, err := transports.ListenTCP(ctx, cfg.Addr)
	if err != nil {
		return nil, err
	}
	args := transports.Args{argServerName: serverName}
	if fp, ok := cfg.Args[argFP]; ok {
		args[argFP] = fp
	}
	return &listener{
		Listener: ln,
		tls:      tlsConfig,
		decoy:    h,
		args:     args,
		log:      log.With("transport", Name),
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
	rec := &recordingConn{Conn: c}
	sc := &serverConn{Conn: tls.Server(rec, l.tls), raw: rec, decoy: l.decoy, log: l.log}
	go sc.handshake()
	return sc, nil
}

func (l *listener) BridgeArgs() transports.Args { return l.args.Clone() }

// serverConn is an accepted TLS conn whose handshake is bounded by handshakeTimeout and
// which shows the decoy website when the gateway rejects its peer.
type serverConn struct {
	*tls.Conn
	raw     *recordingConn
	decoy   http.Handler
	log     *slog.Logger
	once    sync.Once
	hsError error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		err := c.Conn.HandshakeContext(ctx)
		c.raw.stopRecording(err != nil)
		if err != nil {
			c.log.Debug("TLS handshake failed", "reason", handshakeFailure(err))
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
		// Plain HTTP on the TLS port gets nginx's page for exactly that; other
		// garbage got crypto/tls's alert already.
		var rhe tls.RecordHeaderError
		if errors.As(err, &rhe) && rhe.Conn != nil {
			decoy.Serve(c.raw.Conn, c.raw.recorded, decoy.PlainHTTPOnTLSPort())
		}
		c.Close()
		return
	}
	decoy.Serve(c.Conn, prefix, c.decoy)
}

// handshakeFailure names why a handshake failed without the addresses that net's
// errors carry, so logs hold no client IP.
func handshakeFailure(err error) string {
	var rhe tls.RecordHeaderError
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &rhe):
		return "not TLS"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF):
		return "peer closed"
	case errors.As(err, &oe):
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// maxRecorded bounds what recordingConn keeps: a ClientHello or an HTTP request head.
const maxRecorded = 8 << 10

// recordingConn keeps what the TLS handshake read, so that when a peer turns out to
// speak plain HTTP its whole request can still be answered. Only the handshake
// goroutine reads while recording; stopRecording runs on it when the handshake ends.
type recordingConn struct {
	net.Conn
	done     bool
	recorded []byte
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.done && len(c.recorded) < maxRecorded {
		c.recorded = append(c.recorded, p[:min(n, maxRecorded-len(c.recorded))]...)
	}
	return n, err
}

// stopRecording ends the recording, keeping it only when the handshake failed.
func (c *recordingConn) stopRecording(keep bool) {
	c.done = true
	if !keep {
		c.recorded = nil
	}
}
