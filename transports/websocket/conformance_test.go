package websocket

import (
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

const (
	testFront  = "cdn.hollowpine.example"    // the name the CDN edge answers to
	testOrigin = "origin.hollowpine.example" // the gateway's own TLS name
	testPath   = "/q8wz3r5t1y6u0p2l4k7j"
)

// dialerTo trusts the test CA, which issued the certificates of nginx and of ownFront.
func dialerTo(t *testing.T, addr string) transports.Dialer {
	t.Helper()
	d, err := New(webtest.Roots(t)).NewDialer(addr, transports.Args{argServerName: testFront, argPath: testPath})
	if err != nil {
		t.Fatalf("NewDialer(%q): %v", addr, err)
	}
	return d
}

// ownFront are the arguments of a listener that is its own front, with a certificate
// from the test CA, as an operator's would be from Let's Encrypt.
func ownFront(t testing.TB) transports.Args {
	cert, key := webtest.Certificate(t, testFront)
	return transports.Args{argServerName: testFront, "path": testPath, "cert": cert, "key": key}
}

func listenT(t *testing.T, addr string, args transports.Args) transports.Listener {
	t.Helper()
	ln, err := New(nil).Listen(t.Context(), transports.ListenConfig{Addr: addr, Args: args})
	if err != nil {
		t.Fatalf("Listen(%s, %v): %v", addr, args, err)
	}
	return ln
}

// wsConformance is what the suite can claim: a WebSocket has no half-close (a close
// frame ends both directions).
var wsConformance = transporttest.Options{DialerTo: dialerTo, NoHalfClose: true}

func TestConformanceDirect(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		ln := listenT(t, "127.0.0.1:0", ownFront(t))
		return ln, dialerTo(t, ln.Addr().String())
	}, wsConformance)
}

// startCDN runs nginx from docker/nginx/websocket.conf on 127.0.0.3 as the CDN edge in
// front of a gateway address on 127.0.0.2 that terminates TLS as an origin does.
func startCDN(t *testing.T) (edge, gateway string) {
	t.Helper()
	return webtest.WebSocketCDN(t, testFront, testOrigin, testPath)
}

func originArgs() transports.Args {
	return transports.Args{argServerName: testOrigin, "path": testPath, argFront: testFront}
}

func TestConformanceThroughCDN(t *testing.T) {
	edge, gateway := startCDN(t)
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		return listenT(t, gateway, originArgs()), dialerTo(t, edge)
	}, wsConformance)
}
