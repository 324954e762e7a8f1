package webtunnel

import (
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

const (
	testServerName = "www.hollowpine.example"
	testPath       = "/k3v9tq2mzx7c4hw1bn5d"
	testURL        = "https://" + testServerName + testPath
)

// dialerTo trusts the test CA, which issued the certificates of nginx and of ownFront.
func dialerTo(t *testing.T, addr string) transports.Dialer {
	t.Helper()
	d, err := New(webtest.Roots(t)).NewDialer(addr, transports.Args{argURL: testURL})
	if err != nil {
		t.Fatalf("NewDialer(%q): %v", addr, err)
	}
	return d
}

// ownFront are the arguments of a listener that is its own front, with a certificate
// from the test CA, as an operator's would be from Let's Encrypt.
func ownFront(t testing.TB) transports.Args {
	cert, key := webtest.Certificate(t, testServerName)
	return transports.Args{argURL: testURL, "cert": cert, "key": key}
}

func listenT(t *testing.T, addr string, args transports.Args) transports.Listener {
	t.Helper()
	ln, err := New(nil).Listen(t.Context(), transports.ListenConfig{Addr: addr, Args: args})
	if err != nil {
		t.Fatalf("Listen(%s, %v): %v", addr, args, err)
	}
	return ln
}

func TestConformanceAsItsOwnFront(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		ln := listenT(t, "127.0.0.1:0", ownFront(t))
		return ln, dialerTo(t, ln.Addr().String())
	}, transporttest.Options{DialerTo: dialerTo})
}

// startFront runs nginx from docker/nginx/webtunnel.conf on 127.0.0.3 in front of a
// gateway address on 127.0.0.2, and returns both addresses.
func startFront(t *testing.T) (front, gateway string) {
	t.Helper()
	return webtest.WebTunnelFront(t, testServerName, testPath)
}

func behindNginxArgs() transports.Args {
	return transports.Args{"tls": "false", "servername": testServerName, "path": testPath}
}

func TestConformanceBehindNginx(t *testing.T) {
	front, gateway := startFront(t)
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		return listenT(t, gateway, behindNginxArgs()), dialerTo(t, front)
	}, transporttest.Options{
		DialerTo: dialerTo,
		// nginx ends a proxied upgraded connection as soon as either side finishes
		// sending (ngx_http_upstream_process_upgraded), so a half-close does not cross it.
		NoHalfClose: true,
	})
}
