// Package utls is the TLS transport: the carrier is TLS 1.3 over TCP whose ClientHello is
// a real browser's (captured from Debian's current Chromium and Firefox), and whose server
// shows an ordinary website to anyone who is not a client. It hides the session, not the
// server's address: an address blocklist still blocks it.
package utls

import (
	"crypto/x509"

	"github.com/umbrella-edge/edge/transports"
)

// Name is the transport's name in bridge lines.
const Name = "utls"

// New returns the utls transport. Its dialers check the server's certificate against
// the bridge line's pin= or, without one, against roots (nil: the system's roots).
//
// The TLS is package tlskit's, which the web transports share: this package adds only
// what makes TLS a carrier of its own, a listener that runs the handshake off Accept and
// shows the decoy website to a peer the gateway rejects.
//
// Client arguments are tlskit.ClientArgs: servername= (the TLS SNI; required unless the
// bridge address is a name), fp=chrome|firefox|safari|random (default chrome), frag= (0
// off; 1 cuts the ClientHello into TCP segments of random sizes; N ≥ 2 into N-byte
// segments), pin= (the base64url SHA-256 of the server's key, or several separated by
// commas; see package trust).
//
// Listener arguments: cert= and key= (PEM files of the operator's real certificate), or
// servername= alone for a self-signed certificate kept in the state directory, whose
// key's pin= the bridge lines then carry; fp= is only copied into the printed bridge
// lines.
func New(roots *x509.CertPool) transports.Transport {
	return transports.Define(Name, func(addr string, args transports.Args) (*dialer, error) {
		return newDialer(addr, args, roots)
	}, listen, checkListen)
}
