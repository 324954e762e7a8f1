package quic

import (
	"context"
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
)

func benchPair(b *testing.B, tr transports.Transport, args transports.Args) (transports.Listener, transports.Dialer) {
	b.Helper()
	ln, err := tr.Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: args})
	if err != nil {
		b.Fatal(err)
	}
	d, err := tr.NewDialer(ln.Addr().String(), ln.BridgeArgs())
	if err != nil {
		b.Fatal(err)
	}
	return ln, d
}

// BenchmarkHandshake measures a QUIC handshake plus the carrier stream on loopback,
// until Accept has the conn.
func BenchmarkHandshake(b *testing.B) {
	ln, d := benchPair(b, New(nil), transports.Args{argServerName: testServerName})
	webtest.BenchHandshake(b, ln, d)
}

// BenchmarkThroughput measures one carrier's client→server throughput beside plain
// TCP's in the same run.
func BenchmarkThroughput(b *testing.B) {
	b.Run("tcp", func(b *testing.B) {
		ln, d := benchPair(b, tcp.New(), nil)
		webtest.BenchThroughput(b, ln, d)
	})
	b.Run(Name, func(b *testing.B) {
		ln, d := benchPair(b, New(nil), transports.Args{argServerName: testServerName})
		webtest.BenchThroughput(b, ln, d)
	})
}
