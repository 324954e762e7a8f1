package dns

import (
	"context"
	"crypto/x509"
	"net"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// This file is the package's one use of the TLS toolkit: DNS over HTTPS
// sends the browser ClientHello the TLS transports send, since a browser is what
// speaks DoH to a public resolver.

// A tlsHandshaker runs a TLS handshake over raw and says which application protocol
// the server chose; on error the caller still owns raw.
type tlsHandshaker interface {
	Handshake(ctx context.Context, raw net.Conn) (conn net.Conn, alpn string, err error)
}

// browserTLS returns the browser-like TLS client for a DoH resolver called serverName,
// configured by args (fp=, pin=); its certificate must chain to roots (nil: the
// system's) unless args pin it.
func browserTLS(serverName string, args transports.Args, roots *x509.CertPool) (tlsHandshaker, error) {
	a := args.Clone()
	a["servername"] = serverName
	return tlskit.NewClient(serverName, a, roots)
}
