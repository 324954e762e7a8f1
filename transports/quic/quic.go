// Package quic is the HTTP/3-looking transport: the carrier is one bidirectional
// stream of a QUIC v1 connection with ALPN h3 and a real-looking server name, whose
// server answers everyone else as an HTTP/3 website. quicobfs reuses its Dialer and
// Listen under masked datagrams.
package quic

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/utls"
)

// Name is the transport's name in bridge lines.
const Name = "quic"

// ALPN is the only application protocol the carrier offers and accepts: HTTP/3's.
const ALPN = "h3"

const argServerName = "servername"

// New returns the quic transport.
//
// Client arguments: servername= (the TLS SNI; required unless the bridge address is a
// name). Listener arguments: cert= and key= (PEM files of the operator's real
// certificate), or servername= alone for a self-signed certificate kept in the state
// directory, as for utls.
func New() transports.Transport { return transports.Define(Name, newDialer, listen) }

func newDialer(addr string, args transports.Args) (*Dialer, error) {
	if err := args.Unknown(argServerName); err != nil {
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
	return &Dialer{Addr: addr, TLS: ClientTLS(serverName)}, nil
}

// ClientTLS is the carrier's TLS client configuration for serverName.
func ClientTLS(serverName string) *tls.Config {
	return &tls.Config{
		ServerName: serverName,
		NextProtos: []string{ALPN},
		MinVersion: tls.VersionTLS13,
		// The certificate is not checked here on purpose: the session layer above pins
		// the gateway's Ed25519 identity and signs the key exchange with it, so a CDN or
		// a national CA that presents its own certificate still cannot impersonate the
		// gateway, and operators may use self-signed certificates.
		InsecureSkipVerify: true,
	}
}

func listen(ctx context.Context, cfg transports.ListenConfig) (transports.Listener, error) {
	if err := cfg.Args.Unknown(utls.TLSServerArgs...); err != nil {
		return nil, err
	}
	tlsConfig, serverName, err := utls.ServerTLSConfig(cfg.Args, cfg.StateDir)
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
		BridgeArgs: transports.Args{argServerName: serverName},
		Logger:     cfg.Logger,
	})
}
