package tlskit

import (
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/umbrella-edge/edge/transports"
)

// dataSegmentsIn is how many TCP segments carrying data the kernel received on c.
func dataSegmentsIn(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var segs uint32
	var serr error
	rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			serr = err
			return
		}
		segs = info.Data_segs_in
	})
	if serr != nil {
		t.Fatal(serr)
	}
	return int(segs)
}

// helloSegments dials a loopback listener that reads one ClientHello and reports how
// many data segments it arrived in and how long it was.
func helloSegments(t *testing.T, frag string) (segments, length int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct{ segs, n int }
	got := make(chan result, 1)
	go func() {
		defer close(got)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if b, err := readHelloFrom(c); err == nil {
			got <- result{dataSegmentsIn(t, c), len(b)}
		}
	}()
	tc, err := NewClient("", transports.Args{ArgServerName: testServerName, ArgFrag: frag}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, _, err := tc.Dial(testContext(t), ln.Addr().String()); err == nil {
		c.Close()
	}
	r, ok := <-got
	if !ok {
		t.Fatal("no ClientHello arrived")
	}
	return r.segs, r.n
}

func TestFragmentedHelloArrivesInSeveralSegments(t *testing.T) {
	tests := []struct {
		frag    string
		minSegs func(helloLen int) int
	}{
		{"100", func(n int) int { return (n + 99) / 100 }},
		{"1", func(n int) int { return (n + fragRandomMax - 1) / fragRandomMax }},
	}
	for _, tt := range tests {
		t.Run("frag="+tt.frag, func(t *testing.T) {
			segs, n := helloSegments(t, tt.frag)
			if want := tt.minSegs(n); segs < want {
				t.Fatalf("a %d-byte ClientHello arrived in %d segments, want at least %d", n, segs, want)
			}
		})
	}
	// Unfragmented, the same hello fits one loopback segment: the counting above
	// measures the fragmentation, not the loopback's segment size.
	if segs, n := helloSegments(t, "0"); segs != 1 {
		t.Fatalf("without frag= a %d-byte ClientHello arrived in %d segments, want 1", n, segs)
	}
}
