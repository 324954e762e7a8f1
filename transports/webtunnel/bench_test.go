package webtunnel

import (
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
)

// The benchmarks run on loopback against the gateway as its own front; nginx in the
// path adds its own copying, which `make bench` measures end to end.

func BenchmarkHandshake(b *testing.B) {
	ln, err := New(nil).Listen(b.Context(), listenConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	webtest.BenchHandshake(b, ln, benchDialer(b, ln.Addr().String()))
}

func BenchmarkThroughput(b *testing.B) {
	ln, err := New(nil).Listen(b.Context(), listenConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	webtest.BenchThroughput(b, ln, benchDialer(b, ln.Addr().String()))
}

func listenConfig(b *testing.B) transports.ListenConfig {
	return transports.ListenConfig{Addr: "127.0.0.1:0", Args: ownFront(b)}
}

func benchDialer(b *testing.B, addr string) transports.Dialer {
	d, err := New(webtest.Roots(b)).NewDialer(addr, transports.Args{argURL: testURL})
	if err != nil {
		b.Fatal(err)
	}
	return d
}
