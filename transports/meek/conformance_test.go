package meek

import (
	"context"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

const (
	testServerName = "www.example.com"
	testPath       = "/m7q2x"
)

// TestConformance runs the suite against the gateway playing the front itself: TLS
// terminated by the listener, meek over it.
func TestConformance(t *testing.T) {
	// A silent peer never shows a certificate, so no pin is needed.
	dialerTo := func(t *testing.T, addr string) transports.Dialer {
		d, err := New(nil).NewDialer(addr, transports.Args{argServerName: testServerName, argPath: testPath})
		if err != nil {
			t.Fatalf("NewDialer(%q): %v", addr, err)
		}
		return d
	}
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{
			Addr: "127.0.0.1:0",
			Args: transports.Args{argServerName: testServerName, argPath: testPath},
		})
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		d, err := New(nil).NewDialer(ln.Addr().String(), ln.BridgeArgs())
		if err != nil {
			t.Fatalf("NewDialer(%v): %v", ln.BridgeArgs(), err)
		}
		return ln, d
	}, transporttest.Options{DialerTo: dialerTo})
}
