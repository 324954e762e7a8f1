package utls

import (
	"context"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

func TestConformance(t *testing.T) {
	for _, fp := range []string{tlskit.FPChrome, tlskit.FPFirefox} {
		t.Run(fp, func(t *testing.T) {
			// A silent peer never shows a certificate, so no pin is needed.
			dialerTo := func(t *testing.T, addr string) transports.Dialer {
				d, err := New(nil).NewDialer(addr, transports.Args{tlskit.ArgServerName: testServerName, tlskit.ArgFP: fp})
				if err != nil {
					t.Fatalf("NewDialer(%q): %v", addr, err)
				}
				return d
			}
			transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
				ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{
					Addr: "127.0.0.1:0",
					Args: transports.Args{tlskit.ArgServerName: testServerName},
				})
				if err != nil {
					t.Fatalf("Listen: %v", err)
				}
				return ln, dialerFor(t, ln, transports.Args{tlskit.ArgFP: fp})
			}, transporttest.Options{DialerTo: dialerTo})
		})
	}
}
