package utls

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
)

// TLSServerArgs are the listener arguments ServerTLSConfig reads.
var TLSServerArgs = []string{argServerName, argCert, argKey}

// ServerTLSConfig is the TLS server side of every transport that speaks TLS: the
// operator's cert= and key= files, or a self-signed certificate for servername= kept in
// stateDir (in memory when stateDir is empty). It returns what bridge lines say of the
// certificate: the server name, and the pin of a self-signed certificate's key. The site speaks HTTP/1.1 only: a browser that offers h2 settles for it, as it
// would with an nginx that has h2 switched off, and an HTTP Upgrade needs HTTP/1.1.
// Like the nginx it stands for, it takes TLS 1.2 as well as 1.3: a server that
// refuses a TLS 1.2 hello is not an ordinary website. Our clients always get 1.3.
func ServerTLSConfig(args transports.Args, stateDir string) (*tls.Config, ServerIdentity, error) {
	cert, id, err := loadOrCreateCert(args, stateDir, time.Now())
	if err != nil {
		return nil, ServerIdentity{}, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12, // nginx's ssl_protocols TLSv1.2 TLSv1.3
		NextProtos:   []string{"http/1.1"},
		// OpenSSL 3.0's default groups (less X448, which Go lacks). Without them Go
		// answers a browser's post-quantum key share, and its ServerHello grows from
		// 122 bytes to over 1200, which no nginx on OpenSSL 3.0 (Debian 12) sends.
		// The session inside agrees its own hybrid post-quantum keys; TLS here is
		// the site's cover.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP521, tls.CurveP384},
		// Full records from the start, as OpenSSL writes them (nginx's ssl_buffer_size
		// is 16k); Go's first records of about 1200 bytes would mark the site as Go's.
		DynamicRecordSizingDisabled: true,
	}, id, nil
}

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
	tlsConfig, id, err := ServerTLSConfig(cfg.Args, cfg.StateDir)
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
	args := id.BridgeArgs()
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
	sc := newServerConn(c, l.decoy, l.log)
	go sc.handshake(l.tls)
	return sc, nil
}

func (l *listener) BridgeArgs() transports.Args { return l.args.Clone() }

// handshakeFailure names why a handshake failed without the addresses that net's
// errors carry, so logs hold no client IP.
func handshakeFailure(err error) string {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, ErrPlainHTTP), errors.Is(err, ErrRefusedHello):
		return err.Error()
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF):
		return "peer closed"
	case errors.As(err, &oe):
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}
