// Package websocket is the WebSocket transport, made to pass through a CDN: the client
// connects to the CDN's address with one TLS server name and asks for another HTTP Host,
// so it reaches a gateway whose own address is blocked. Binary WebSocket messages carry
// the stream (github.com/coder/websocket).
package websocket

import (
	"crypto/x509"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// Name is the transport's name in bridge lines.
const Name = "websocket"

// Bridge-line and listener arguments besides the TLS client's and the web front's.
const (
	argURL        = "url"
	argHost       = "host"
	argPath       = "path"
	argFront      = "front"
	argServerName = tlskit.ArgServerName
	argFrag       = tlskit.ArgFrag
)

// ErrHTTP2 and ErrNoUpgrade are the dial failures that mean the front is set up wrong.
var (
	ErrHTTP2     = httpfront.ErrHTTP2
	ErrNoUpgrade = httpfront.ErrNoUpgrade
)

// New returns the websocket transport.
//
// Client arguments: the bridge address is what the client connects to (the CDN's edge,
// or the gateway itself); servername= is the TLS server name sent to it; host= is the
// HTTP Host the CDN routes by (the gateway's site name), and path= the secret path;
// url=https://HOST[:PORT]/PATH gives host= and path= at once. servername= and host=
// default to each other. fp= and frag= as for utls.
//
// Listener arguments: as for webtunnel's web front (tls=, allow-public-plain=, path=,
// servername=, cert=, key=; servername= is the gateway's own TLS name, which the CDN
// sends when it connects to it), plus, for the printed bridge lines, front= (the TLS
// server name clients send to the CDN; default host=) and host= (the Host clients ask
// the CDN for; default front=, else servername=).
func New(roots *x509.CertPool) transports.Transport {
	return transports.Define(Name, func(addr string, args transports.Args) (*dialer, error) {
		return newDialer(addr, args, roots)
	}, listen, checkListen)
}
