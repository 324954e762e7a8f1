package meek_test

import (
	"context"
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/meek"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

// TestConformanceBehindNginx runs the suite with nginx between client and listener, as
// meek is deployed: the client fronts (SNI webtest.MeekFront, Host webtest.MeekService), nginx
// proxies plain HTTP/1.1 with keep-alive and no WebSocket support to the listener.
func TestConformanceBehindNginx(t *testing.T) {
	dialerTo := func(t *testing.T, addr string) transports.Dialer {
		d, err := meek.New(webtest.Roots(t)).NewDialer(addr, webtest.MeekClientArgs())
		if err != nil {
			t.Fatalf("NewDialer(%q): %v", addr, err)
		}
		return d
	}
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		ln, err := meek.New(nil).Listen(context.Background(), transports.ListenConfig{
			Addr: webtest.GatewayHost + ":0",
			Args: webtest.MeekListenerArgs(),
		})
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		f := webtest.StartMeekCDN(t, ln.Addr().String())
		return ln, dialerTo(t, f.Addr)
	}, transporttest.Options{DialerTo: dialerTo})
}
