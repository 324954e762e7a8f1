package gateway

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The echo waits for both the session's and the gateway's bucket: bytes beyond them
// are not written back until the buckets refill (here, at a byte a second, never).
func TestProbeEchoWaitsForItsRate(t *testing.T) {
	p := newProbeService(ProbeConfig{SessionRate: 1, Rate: 1})
	s := p.newSession()
	burst := p.limit.Burst() // probeChunk: at a byte a second, the floor
	server, client := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "bytes"})
	go func() { p.echo(ctx, server, s, counter, counter); close(done) }()

	first := make([]byte, burst*3/4)
	go client.Write(first)
	if _, err := io.ReadFull(client, make([]byte, len(first))); err != nil {
		t.Fatalf("echo within the burst: %v", err)
	}
	for _, l := range []interface{ TokensAt(time.Time) float64 }{s.limit, p.limit} {
		// A minute of refill at most, at a byte a second.
		if left := l.TokensAt(time.Now()); left < float64(burst-len(first)) || left > float64(burst-len(first)+60) {
			t.Errorf("%.0f tokens left after echoing %d of %d; want the echo paid for", left, len(first), burst)
		}
	}
	go client.Write(make([]byte, burst/2))
	// The echo has read the second write once it has reserved tokens it lacks.
	for s.limit.TokensAt(time.Now()) >= 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	server.Close()
	if n, err := client.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("after the rate was spent: read %d bytes, %v; want nothing echoed", n, err)
	}
}
