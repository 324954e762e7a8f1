package meek

import (
	"crypto/x509"

	"errors"
	"fmt"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
)

// Name is the transport's name in bridge lines.
const Name = "meek"

// Header fields of the protocol (see doc.go).
const (
	hdrSessionID = "X-Session-Id"
	hdrWindow    = "X-Session-Window"
	hdrEnd       = "X-Session-End"
)

const (
	// maxRequestBody bounds upstream bytes per request: 64 KiB, meek-server's
	// maxPayloadLength.
	maxRequestBody = 64 << 10
	// maxResponseBody bounds downstream bytes per response. Downstream is what a
	// messenger mostly receives, so responses carry more than requests.
	maxResponseBody = 128 << 10
	// queueSize bounds each direction's buffer on each side.
	queueSize = 256 << 10

	// Poll timing, as Tor's meek-client: poll again at once while data flows, else
	// wait 100 ms, growing ×1.5 up to 5 s.
	initialPollDelay = 100 * time.Millisecond
	maxPollDelay     = 5 * time.Second

	// pollHold is how long the server holds an empty poll when it has nothing to
	// send, so a message that becomes ready meanwhile goes out at once instead of
	// waiting for the next poll. It also delays the client's next upstream bytes by
	// up to as much (requests are sequential), hence short.
	pollHold = 100 * time.Millisecond
	// turnaround is how long the server waits for an answer to a request that
	// carried data, as meek-server's turnaroundTimeout: an immediate reply (an
	// acknowledgement) then rides in this response instead of the next.
	turnaround = 10 * time.Millisecond
	// firstHold bounds how long a request with the peer's first bytes waits for the
	// gateway to accept (write) or reject them, so that a rejected peer gets the
	// decoy website and an accepted one its answer at once. It stays under CDN and
	// nginx read timeouts.
	firstHold = 15 * time.Second
	// sessionExpiry ends a server session with no request for this long, as
	// meek-server's maxSessionStaleness.
	sessionExpiry = 120 * time.Second
)

// Errors a caller can branch on.
var (
	// ErrHTTP2 is returned by Dial when the front chose HTTP/2; meek speaks HTTP/1.1.
	ErrHTTP2 = httpfront.ErrHTTP2
	// ErrSessionGone is returned when the server, having answered the session with
	// 200 before, answers with anything else: it expired the session or restarted.
	ErrSessionGone = errors.New("the server does not know the meek session")
	// ErrPeerClosed is returned by Write once the peer closed the session.
	ErrPeerClosed = errors.New("meek: the peer closed the session")
	// ErrExpired is returned on the server side of a session whose client sent
	// nothing for sessionExpiry.
	ErrExpired = errors.New("meek: session expired: no request from the client for 120s")
	// ErrProtocol is wrapped when the peer broke the protocol (a bad header, more
	// bytes than the window allowed).
	ErrProtocol = errors.New("meek protocol violation")

	errWindowExceeded = fmt.Errorf("%w: more bytes than the window allowed", ErrProtocol)
)

// New returns the meek transport.
//
// Client arguments: servername= (TLS SNI, the front's name; required when the bridge
// address is an IP), url=https://HOST/PATH or host= and path= (the HTTP Host, which
// names the real service, default the server name; and the gateway's secret path,
// required), fp= and frag= as for utls.
//
// Listener arguments: tls=true (default: the gateway is the front and terminates TLS,
// with cert= and key=, or servername= for a self-signed certificate) or tls=false
// (plain HTTP for a front such as nginx or a CDN; servername= then names the front,
// and the listen address must be loopback unless allow-public-plain=true), as the
// other web transports read them (package httpfront); url= or host= and path= as for
// the client, the path generated into the state directory when none is given;
// max-sessions= (default 1024); fp= is only copied into bridge lines.
func New(roots *x509.CertPool) transports.Transport {
	return transports.Define(Name, func(addr string, args transports.Args) (*dialer, error) {
		return newDialer(addr, args, roots)
	}, listen, checkListen)
}
