// Package quic is the HTTP/3-looking transport: the carrier is one bidirectional
// stream of a QUIC v1 connection with ALPN h3 and a real-looking server name, whose
// server answers everyone else as an HTTP/3 website. quicobfs reuses its Dialer and
// Listen under masked datagrams.
package quic

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/tlskit"
	"github.com/umbrella-edge/edge/transports/trust"
)

// Name is the transport's name in bridge lines.
const Name = "quic"

// ALPN is the only application protocol the carrier offers and accepts: HTTP/3's.
const ALPN = "h3"

const argServerName = tlskit.ArgServerName

// New returns the quic transport.
//
// Client arguments: servername= (the TLS SNI; required unless the bridge address is a
// name), pin= (as for utls: without it the certificate must chain to roots, nil
// meaning the system's). Listener arguments: cert= and key= (PEM files of the
// operator's real certificate), or servername= alone for a self-signed certificate
// kept in the state directory, whose pin= the bridge lines carry, as for utls.
func New(roots *x509.CertPool) transports.Transport {
	return transports.Define(Name, func(addr string, args transports.Args) (*Dialer, error) {
		return newDialer(addr, args, roots)
	}, listen, checkListen)
}

func newDialer(addr string, args transports.Args, roots *x509.CertPool) (*Dialer, error) {
	if err := args.Unknown(argServerName, trust.PinArg); err != nil {
		return nil, err
	}
	if err := transports.CheckHostPort(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	serverName := args.Get(argServerName, host)
	if net.ParseIP(serverName) != nil {
		// Browsers send no SNI for an IP, and an Initial with one in it would stand out.
		return nil, &transports.ArgError{Key: argServerName, Err: fmt.Errorf("%w: want a DNS name, not the IP %s", transports.ErrMissingArg, serverName)}
	}
	v := trust.Verifier{ServerName: serverName, Roots: roots}
	if pin, ok := args[trust.PinArg]; ok {
		var err error
		if v.Pins, err = trust.ParsePins(pin); err != nil {
			return nil, &transports.ArgError{Key: trust.PinArg, Err: err}
		}
	}
	return &Dialer{Addr: addr, TLS: ClientTLS(v)}, nil
}

// ClientTLS is the carrier's TLS client configuration: the server's certificate must
// pass v, or the handshake ends as Chromium ends it, with a CONNECTION_CLOSE carrying
// the TLS alert tlskit.BrowserAlert (RFC 9001 section 4.8), and the dial's error wraps
// a *trust.Error.
func ClientTLS(v trust.Verifier) *tls.Config {
	return &tls.Config{
		ServerName: v.ServerName,
		NextProtos: []string{ALPN},
		MinVersion: tls.VersionTLS13,
		// Go's own check is off so that v decides, with the bridge line's pin=.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if err := v.Verify(cs.PeerCertificates); err != nil {
				tlskit.WaitBeforeRefusal(context.Background()) // 100 ms at most
				// quic-go closes with the first tls.AlertError it finds in the
				// error, and Go's own (bad_certificate) comes after this one.
				return fmt.Errorf("%w%.0w", err, tls.AlertError(tlskit.BrowserAlert))
			}
			return nil
		},
	}
}

func checkListen(cfg transports.ListenConfig) error {
	if err := cfg.Args.Unknown(tlskit.ServerArgs...); err != nil {
		return err
	}
	return tlskit.CheckServer(cfg.Args, cfg.StateDir)
}

func listen(ctx context.Context, cfg transports.ListenConfig) (transports.Listener, error) {
	if err := cfg.Args.Unknown(tlskit.ServerArgs...); err != nil {
		return nil, err
	}
	tlsConfig, id, err := tlskit.ServerConfig(cfg.Args, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	tlsConfig.NextProtos = []string{ALPN}
	site := cfg.Decoy
	if site == nil {
		site = decoy.BuiltIn()
	}
	return Listen(ctx, ServerConfig{
		Addr:       cfg.Addr,
		TLS:        tlsConfig,
		Decoy:      site,
		BridgeArgs: id.BridgeArgs(),
		Logger:     cfg.Logger,
	})
}
