package utls

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

type listener struct {
	net.Listener
	tls   *tls.Config
	decoy http.Handler
	args  transports.Args
	log   *slog.Logger
}

// checkArgs refuses what listen refuses in the arguments alone.
func checkArgs(args transports.Args) error {
	if err := args.Unknown(append(tlskit.ServerArgs, tlskit.ArgFP)...); err != nil {
		return err
	}
	if fp, ok := args[tlskit.ArgFP]; ok {
		if err := tlskit.CheckFingerprint(fp); err != nil {
			return &transports.ArgError{Key: tlskit.ArgFP, Err: err}
		}
	}
	return nil
}

func checkListen(cfg transports.ListenConfig) error {
	if err := checkArgs(cfg.Args); err != nil {
		return err
	}
	return tlskit.CheckServer(cfg.Args, cfg.StateDir)
}

func listen(ctx context.Context, cfg transports.ListenConfig) (*listener, error) {
	if err := checkArgs(cfg.Args); err != nil {
		return nil, err
	}
	tlsConfig, id, err := tlskit.ServerConfig(cfg.Args, cfg.StateDir)
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
	if fp, ok := cfg.Args[tlskit.ArgFP]; ok {
		args[tlskit.ArgFP] = fp
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
	case errors.Is(err, tlskit.ErrPlainHTTP), errors.Is(err, tlskit.ErrRefusedHello):
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
