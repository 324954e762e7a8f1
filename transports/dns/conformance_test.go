package dns

import (
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/transporttest"
)

// conformanceTransfer is the large transfer each way: a DNS tunnel moves hundreds of
// KB/s through unbound on loopback, so 16 MiB each way under the race detector would
// outlast the suite's watchdog; 1 MiB is still sixty times a censor's freeze threshold.
const conformanceTransfer = 1 << 20

// TestConformance runs the suite through a real unbound, one per subtest, in front of
// the listener, over plain DNS. DoT and DoH differ only in the resolver conn, which
// TestEveryWayToTheResolver covers; the suite three times over would take minutes.
func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		ln := listenLoopback(t)
		return ln, startResolver(t, ln).dialer(t, overUDP)
	}, transporttest.Options{
		DialerTo: func(t *testing.T, addr string) transports.Dialer {
			d, err := newDialer(addr, transports.Args{argDomain: testDomain}, nil)
			if err != nil {
				t.Fatalf("NewDialer(%s): %v", addr, err)
			}
			return d
		},
		Network:       "udp",
		LargeTransfer: conformanceTransfer,
	})
}
