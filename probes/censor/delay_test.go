package censor

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

func TestDelayDrawsWithinItsJitter(t *testing.T) {
	for _, l := range []lag{{base: 50 * time.Millisecond, jitter: 25 * time.Millisecond}, {base: 10 * time.Millisecond, jitter: 30 * time.Millisecond}, {base: time.Second}} {
		lo, hi := max(l.base-l.jitter, 0), l.base+l.jitter
		for range 1000 {
			if d := l.draw(); d < lo || d > hi {
				t.Fatalf("%+v drew %v, outside [%v, %v]", l, d, lo, hi)
			}
		}
	}
}

// A delay line keeps order whatever the jitter, holds each chunk at least its
// smallest delay (a lower bound, which a loaded machine cannot break: timers never
// fire early), and delivers every chunk.
func TestDelayLineKeepsOrderAndHoldsEachChunk(t *testing.T) {
	l := lag{base: 20 * time.Millisecond, jitter: 15 * time.Millisecond}
	type arrival struct {
		seq int
		at  time.Time
	}
	var mu sync.Mutex
	var got []arrival
	all := make(chan struct{})
	const n = 200
	line := newDelayLine(l, func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, arrival{int(binary.BigEndian.Uint32(b)), time.Now()})
		if len(got) == n {
			close(all)
		}
		return nil
	})
	defer line.stop()
	pushed := make([]time.Time, n)
	for i := range n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(i))
		pushed[i] = time.Now()
		if ok, err := line.push(b[:], true, nil); !ok || err != nil {
			t.Fatalf("push %d: %v, %v", i, ok, err)
		}
	}
	select {
	case <-all:
	case <-time.After(hangGuard):
		t.Fatalf("%d of %d chunks delivered", len(got), n)
	}
	for i, a := range got {
		if a.seq != i {
			t.Fatalf("chunk %d delivered in place %d: order lost", a.seq, i)
		}
		if held := a.at.Sub(pushed[i]); held < l.base-l.jitter {
			t.Fatalf("chunk %d held %v, less than the smallest delay %v", i, held, l.base-l.jitter)
		}
	}
}

// Through a delayed TCP route bytes arrive whole and in order both ways, and the
// half-close follows the data rather than overtaking it.
func TestDelayedTCPRouteCarriesEverythingInOrder(t *testing.T) {
	delay, err := ParsePolicy("delay:time=5ms:jitter=4ms")
	if err != nil {
		t.Fatal(err)
	}
	c := startCensor(t, []Route{tcpRoute("gw", "tcp", startServer(t, "127.0.0.2", echo))}, delay)
	conn := dial(t, listenAddr(t, c, "gw"))
	data := highEntropy(2 << 20)
	go func() {
		for b := data; len(b) > 0; b = b[min(len(b), 1500):] {
			conn.Write(b[:min(len(b), 1500)])
		}
		conn.CloseWrite()
	}()
	got, err := io.ReadAll(conn)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo through a delayed route: %d of %d bytes, %v", len(got), len(data), err)
	}
	waitDecision(t, c, by("delay", Delayed))
}

// Through a delayed UDP route every datagram arrives, in order.
func TestDelayedUDPRouteCarriesDatagramsInOrder(t *testing.T) {
	up, _ := startUDPEcho(t, "127.0.0.2")
	delay := &Delay{Up: 3 * time.Millisecond, Down: 2 * time.Millisecond, Jitter: 2 * time.Millisecond}
	c := startCensor(t, []Route{{Name: "q", Transport: "quic", Network: "udp", Upstream: up}}, delay)
	conn, err := net.Dial("udp", listenAddr(t, c, "q"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(hangGuard))
	const n = 100
	for i := range n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(i))
		conn.Write(b[:])
	}
	buf := make([]byte, 64)
	for i := range n {
		k, err := conn.Read(buf)
		if err != nil || k != 4 || binary.BigEndian.Uint32(buf) != uint32(i) {
			t.Fatalf("datagram %d: %x, %v", i, buf[:k], err)
		}
	}
	waitDecision(t, c, by("delay", Delayed))
}
