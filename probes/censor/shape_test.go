package censor

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestFreezeStopsServerBytesAfterTheBudget: the client gets exactly the budget, then
// silence on an open connection, while its own bytes still reach the server.
func TestFreezeStopsServerBytesAfterTheBudget(t *testing.T) {
	const budget = 16384
	fromClient := make(chan []byte, 1)
	server := startServer(t, "127.0.0.2", func(conn net.Conn) {
		conn.Write(highEntropy(100 << 10))
		b := make([]byte, 4)
		io.ReadFull(conn, b)
		fromClient <- b
	})
	freeze, err := ParsePolicy("freeze:bytes=16384")
	if err != nil {
		t.Fatal(err)
	}
	c := startCensor(t, []Route{tcpRoute("gw", "obfs4", server)}, freeze)
	conn := dial(t, listenAddr(t, c, "gw"))
	conn.Write([]byte("ping"))
	waitDecision(t, c, by("freeze", Frozen))

	// The censor wrote the budget before it logged the freeze, so it is all here.
	got := make([]byte, 0, budget)
	buf := make([]byte, 64<<10)
	for {
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read from a frozen connection: %v; want silence, not a close", err)
			}
			break
		}
	}
	if len(got) != budget {
		t.Fatalf("client got %d bytes; want the budget, %d", len(got), budget)
	}
	if b := <-fromClient; string(b) != "ping" {
		t.Fatalf("server got %q from the client; want ping", b)
	}
	st := waitFlow(t, c, func(st FlowStatus) bool { return st.Dropped == 100<<10-budget })
	if !st.Frozen || st.ServerToClient != budget || st.Stopped {
		t.Fatalf("flow status %+v; want frozen after %d bytes, the rest dropped, the flow running", st, budget)
	}
}

func TestFreezeBudgetIsDrawnFromTheRange(t *testing.T) {
	p := &Freeze{}
	for range 200 {
		var s shaping
		p.shape(Flow{Network: "tcp"}, &s)
		if s.freezeAt < 14<<10 || s.freezeAt > 20<<10 {
			t.Fatalf("budget %d outside the default 14-20 KiB", s.freezeAt)
		}
	}
	var s shaping
	if v, _ := p.shape(Flow{Network: "udp"}, &s); v != "" || s.freezeAt != 0 {
		t.Fatal("freeze applied to a UDP flow")
	}
}

// TestThrottlePolicesToTheRate reads for a while from a server that sends as fast as
// it can and checks the bytes against what the rate allows since the flow began.
func TestThrottlePolicesToTheRate(t *testing.T) {
	// It waits out timeouts or a rate window: let the other tests run meanwhile.
	t.Parallel()
	const rateBits, burst = 400_000, 4000 // 50 000 bytes/s
	server := startServer(t, "127.0.0.2", func(conn net.Conn) {
		for {
			if _, err := conn.Write(highEntropy(16 << 10)); err != nil {
				return
			}
		}
	})
	c := startCensor(t, []Route{tcpRoute("gw", "obfs4", server)}, &Throttle{Rate: rateBits, Burst: burst})
	start := time.Now()
	conn := dial(t, listenAddr(t, c, "gw"))
	var got int64
	buf := make([]byte, 64<<10)
	for time.Since(start) < time.Second {
		n, err := conn.Read(buf)
		got += int64(n)
		if err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	allowed := burst + int64(elapsed.Seconds()*rateBits/8)
	if got == 0 || got > allowed {
		t.Fatalf("%d bytes in %v; want some, and at most %d (burst + rate × time)", got, elapsed, allowed)
	}
	waitDecision(t, c, by("throttle", Throttled))
}

func TestTokenBucketNeverExceedsRatePlusBurst(t *testing.T) {
	start := time.Now() // before the bucket starts to fill
	b := newTokenBucket(100_000, 2000)
	total := 0
	stop := make(chan struct{})
	for total < 30_000 {
		total += b.take(1500, stop)
	}
	if limit := 2000 + int(time.Since(start).Seconds()*100_000); total > limit {
		t.Fatalf("%d bytes taken; the bucket allows %d", total, limit)
	}
	close(stop)
	empty := newTokenBucket(1, 1)
	empty.take(1, make(chan struct{}))
	if n := empty.take(1, stop); n != 0 {
		t.Fatalf("take on a stopped flow = %d; want 0", n)
	}
	if !newTokenBucket(10, 100).allow(100) || newTokenBucket(10, 100).allow(101) {
		t.Fatal("allow: want the burst to pass and more than it to be dropped")
	}
}
