package quic

import (
	"context"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

const testServerName = "www.example.com"

func TestConformance(t *testing.T) {
	// A silent peer never shows a certificate, so no pin is needed.
	dialerTo := func(t *testing.T, addr string) transports.Dialer {
		d, err := New(nil).NewDialer(addr, transports.Args{argServerName: testServerName})
		if err != nil {
			t.Fatalf("NewDialer(%q): %v", addr, err)
		}
		return relaxHandshake(d)
	}
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{
			Addr: "127.0.0.1:0",
			Args: transports.Args{argServerName: testServerName},
		})
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		return ln, dialerFor(t, ln)
	}, transporttest.Options{DialerTo: dialerTo, Network: "udp"})
}

// relaxHandshake lets every handshake of the conformance run wait 5 s for the
// server, whatever RTT the dialer measured: the suite opens tens of carriers at once
// on a loaded two-core machine, where a server starved of CPU may answer an Initial
// later than the timeout scaled to a loopback RTT allows (ConcurrentConns failed 4
// runs in 25 at a load average of 10). The scaling has tests of its own.
func relaxHandshake(d transports.Dialer) transports.Dialer {
	qd := d.(*Dialer)
	tune := qd.Tune
	qd.Tune = func(c *quicgo.Config) {
		if tune != nil {
			tune(c)
		}
		c.HandshakeIdleTimeout = 5 * time.Second
	}
	return qd
}
