// Package webtunnel is Tor's WebTunnel transport: over TLS, one HTTP/1.1 GET of a
// secret path with WebSocket's Upgrade headers, a 101 answer, then the raw stream with
// no WebSocket framing. To a censor it is a visit to an ordinary HTTPS website.
package webtunnel

import (
	"crypto/x509"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
)

// Name is the transport's name in bridge lines.
const Name = "webtunnel"

// Version is what the gateway prints as ver=, the WebTunnel release whose wire format
// this is (Tor's server announces its own the same way). Clients accept any ver=.
const Version = "0.0.1"

// Bridge-line arguments besides the TLS client's (servername=, fp=, frag=).
const (
	argURL  = "url"
	argVer  = "ver"
	argUTLS = "utls"
)

// ErrHTTP2 and ErrNoUpgrade are the dial failures that mean the front is set up wrong.
var (
	ErrHTTP2     = httpfront.ErrHTTP2
	ErrNoUpgrade = httpfront.ErrNoUpgrade
)

// New returns the webtunnel transport.
//
// Client arguments: url=https://HOST[:PORT]/PATH (required; HOST is the HTTP Host and,
// unless servername= says otherwise, the TLS server name), servername=, ver= (accepted
// and ignored), utls= (Tor's uTLS hello names, mapped onto fp=: see fpFromTorUTLS) or
// fp=chrome|firefox|safari|random, frag= (as for utls). The client dials the bridge
// line's address, not url='s host: our bridge lines carry the real address (the CDN's
// or the web server's), so no DNS lookup can be poisoned.
//
// Listener arguments: url= (the public URL: its host is the server name, its path the
// secret path) or servername= and path=; a path not given is generated into the state
// directory. tls=true (default) makes the gateway the web server itself, with cert= and
// key= or a self-signed certificate; tls=false serves plain HTTP on a loopback address
// to nginx on the same host (docker/nginx/webtunnel.conf), and allow-public-plain=true
// lifts the loopback restriction.
func New(roots *x509.CertPool) transports.Transport {
	return transports.Define(Name, func(addr string, args transports.Args) (*dialer, error) {
		return newDialer(addr, args, roots)
	}, listen, checkListen)
}
