package quicobfs

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/quic"
)

// plainInitial captures the first datagram a quic client sends: a QUIC v1 Initial
// anyone can parse.
func plainInitial(t *testing.T) []byte {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	d, err := quic.New(nil).NewDialer(pc.LocalAddr().String(), transports.Args{"servername": "www.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go d.Dial(ctx)
	pc.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, 2048)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("capturing a quic Initial: %v", err)
	}
	return buf[:n]
}

// answered sends each datagram from one socket to addr and reports whether anything
// came back while the peer had time to answer.
func answered(t *testing.T, addr string, datagrams [][]byte) bool {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range datagrams {
		if _, err := c.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	// Loopback answers in well under a millisecond; the window only has to be long
	// enough for a server that would answer to do so.
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = c.Read(make([]byte, 2048))
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// TestProbersGetNoAnswer sends what a prober without the key can: random datagrams of
// many sizes, a plain QUIC Initial, and an Initial masked with another key. The
// listener answers none of them, while a plain quic listener answers the Initial and
// a client with the key still gets through.
func TestProbersGetNoAnswer(t *testing.T) {
	ln := listenLoopback(t, "")
	initial := plainInitial(t)
	wrongKey := testMasker(t).seal(nil, initial)
	var random [][]byte
	for _, n := range []int{1, 40, 100, 500, 1200, 1250, 1276, 1400} {
		for range 8 {
			d := make([]byte, n)
			for i := range d {
				d[i] = byte(rand.Uint32())
			}
			random = append(random, d)
		}
	}
	probes := map[string][][]byte{
		"random datagrams":             random,
		"a plain QUIC Initial":         {initial, initial},
		"an Initial under another key": {wrongKey, wrongKey},
	}
	for name, datagrams := range probes {
		if answered(t, ln.Addr().String(), datagrams) {
			t.Errorf("%s got an answer; want silence", name)
		}
	}

	plain, err := quic.New(nil).Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: transports.Args{"servername": "www.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if !answered(t, plain.Addr().String(), [][]byte{initial}) {
		t.Fatal("a plain quic listener did not answer the Initial either: the probe proves nothing")
	}
	c, err := dialerTo(t, ln.Addr().String(), ln.BridgeArgs()).Dial(testContext(t))
	if err != nil {
		t.Fatalf("Dial with the key after the probes: %v", err)
	}
	c.Close()
}
