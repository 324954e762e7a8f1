package tcp_test

import (
	"context"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

func TestConformance(t *testing.T) {
	tr := tcp.New()
	dialerTo := func(t *testing.T, addr string) transports.Dialer {
		d, err := tr.NewDialer(addr, nil)
		if err != nil {
			t.Fatalf("NewDialer(%q): %v", addr, err)
		}
		return d
	}
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		ln, err := tr.Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		return ln, dialerTo(t, ln.Addr().String())
	}, transporttest.Options{
		DialerTo:    dialerTo,
		NoHandshake: true, // a tcp conn is ready once connected
	})
}
