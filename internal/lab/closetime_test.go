package lab

import (
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/obfs4"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// TestRawListenersCloseProbesAtScatteredTimes sends 20 probes at once (nothing, an
// HTTP GET, random bytes up to past obfs4's largest handshake) to each raw listener
// and wants each closed silently, none before the hold, at times spread by seconds:
// a close time fixed per bridge is what fingerprints obfs4proxy (issue 10 measured
// 68.007 s on 12 of 12 probes). The hold is the gateway's handshake timeout, here
// 3 s, so the test lasts one close time.
func TestRawListenersCloseProbesAtScatteredTimes(t *testing.T) {
	const hold, probes = 3 * time.Second, 20
	for _, tr := range []transports.Transport{obfs4.New(), tcp.New()} {
		t.Run(tr.Name(), func(t *testing.T) {
			t.Parallel()
			g := StartGateway(t, WithListener(tr, GatewayHost+":0", "", nil), func(c *gateway.Config) {
				c.HandshakeTimeout = hold
			})
			addr := g.Bridge().Addr
			closes := make([]time.Duration, probes)
			var wg sync.WaitGroup
			for i := range probes {
				wg.Go(func() {
					got, after, err := probeClose(addr, probePayload(i))
					switch {
					case err != nil:
						t.Errorf("probe %d: %v", i, err)
					case got > 0:
						t.Errorf("probe %d: the listener answered %d bytes", i, got)
					case after < hold:
						t.Errorf("probe %d: closed %v after the connect, before the hold of %v", i, after, hold)
					}
					closes[i] = after
				})
			}
			wg.Wait()
			slices.Sort(closes)
			if spread := closes[probes-1] - closes[0]; spread < time.Second {
				t.Errorf("%d probes closed within %v of each other (%v … %v): the close time does not scatter", probes, spread, closes[0], closes[probes-1])
			}
		})
	}
}

// probePayload is what probe i sends: nothing, an HTTP GET, or random bytes, up to
// more than obfs4's largest handshake (8192 bytes).
func probePayload(i int) []byte {
	switch i % 4 {
	case 0:
		return nil
	case 1:
		return []byte("GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
	}
	b := make([]byte, 1+i*450)
	rand.Read(b)
	return b
}

// probeClose connects to addr, sends payload and reads until the peer closes: how many
// bytes came back, and how long after the connect began the close came. A close that
// takes a minute is an error.
func probeClose(addr string, payload []byte) (int64, time.Duration, error) {
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if _, err := c.Write(payload); err != nil {
		return 0, 0, err
	}
	c.SetReadDeadline(start.Add(time.Minute))
	n, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, 0, errors.New("still open after a minute")
	}
	return n, time.Since(start), nil
}
