package quicobfs

import (
	"context"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

func TestConformance(t *testing.T) {
	dialerTo := func(t *testing.T, addr string) transports.Dialer {
		d, err := New().NewDialer(addr, transports.Args{argCert: EncodeKey(newKey())})
		if err != nil {
			t.Fatalf("NewDialer(%q): %v", addr, err)
		}
		return d
	}
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		ln, err := New().Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		d, err := New().NewDialer(ln.Addr().String(), ln.BridgeArgs())
		if err != nil {
			t.Fatalf("NewDialer(%v): %v", ln.BridgeArgs(), err)
		}
		return ln, d
	}, transporttest.Options{DialerTo: dialerTo, Network: "udp"})
}
