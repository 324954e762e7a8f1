package gateway_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/gateway/limits"
)

// dialFrom connects to addr from the loopback address src, as a peer on another host.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// counter reads one series of the gateway's metrics; 0 when it is absent.
func (f *fixture) counter(t *testing.T, series string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\d+)`).FindStringSubmatch(f.metrics(t))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// waitCounter waits until series reaches at least want.
func (f *fixture) waitCounter(t *testing.T, series string, want int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if f.counter(t, series) >= want {
			return
		}
	}
	t.Fatalf("%s stayed at %d, want %d", series, f.counter(t, series), want)
}

const evicted = `umbrella_gateway_admission_drops_total{reason="evicted",transport="tcp"}`

// The lock-out: 1,100 idle connections from one address, and a client with a
// valid bridge line. Timeouts are long, so that only admission can save the client.
func TestIdleFloodFromOneAddressDoesNotLockOutAClient(t *testing.T) {
	const places, flood = 64, 1100
	f := newFixture(t, func(c *gateway.Config) {
		c.MaxHandshakes = places
		c.HandshakeTimeout = 10 * time.Minute
		c.FirstBytesTimeout = 10 * time.Minute
	})
	for range flood {
		dialFrom(t, "127.0.0.10", f.bridge.Addr)
	}
	f.waitCounter(t, evicted, flood-places)
	if _, err := dial(t, f.client(t, f.bridge), "echo"); err != nil {
		t.Fatalf("a client after %d idle connections: %v", flood, err)
	}
	if n := f.counter(t, evicted); n != flood-places+1 {
		t.Errorf("%d evictions, want %d: one for each idle peer beyond the %d places, and one for the client", n, flood-places+1, places)
	}
}

func TestASilentPeerLosesItsPlaceButNotItsSilence(t *testing.T) {
	f := newFixture(t, func(c *gateway.Config) {
		c.HandshakeTimeout = 10 * time.Minute
		c.FirstBytesTimeout = limits.MinFirstBytesTimeout
	})
	dialFrom(t, "127.0.0.10", f.bridge.Addr) // and says nothing
	f.waitCounter(t, `umbrella_gateway_handshakes_total{reason="first_bytes",result="failed",transport="tcp"}`, 1)
	// Held in silence until its close time, minutes away.
	if n := f.counter(t, "umbrella_gateway_held_peers"); n != 1 {
		t.Fatalf("%d peers held after the silent one lost its place, want it alone", n)
	}
	// A peer that speaks at once is not cut short by the first-bytes deadline.
	if _, err := dial(t, f.client(t, f.bridge), "echo"); err != nil {
		t.Fatalf("a client beside the silent peer: %v", err)
	}
}

func TestHeldPeersBeyondTheCapAreClosedOldestFirst(t *testing.T) {
	const held = 2
	f := newFixture(t, func(c *gateway.Config) {
		c.HandshakeTimeout = 10 * time.Minute
		c.MaxHeld = held
	})
	var probes []net.Conn
	for i := range held + 1 {
		p := dialFrom(t, fmt.Sprintf("127.0.0.%d", 10+i), f.bridge.Addr)
		garbage := make([]byte, 600) // more than a hello's marked prefix: rejected at once
		rand.Read(garbage)
		if _, err := p.Write(garbage); err != nil {
			t.Fatal(err)
		}
		f.waitCounter(t, `umbrella_gateway_handshakes_total{reason="mark",result="failed",transport="tcp"}`, i+1)
		probes = append(probes, p)
	}
	f.waitCounter(t, `umbrella_gateway_admission_drops_total{reason="held_full",transport="tcp"}`, 1)
	probes[0].SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := probes[0].Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("the oldest held peer read %d bytes, %v; want a FIN with nothing before it, as at its close time", n, err)
	}
	if n := f.counter(t, "umbrella_gateway_held_peers"); n != held {
		t.Fatalf("%d peers held, want the %d younger ones", n, held)
	}
}
