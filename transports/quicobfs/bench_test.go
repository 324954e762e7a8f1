package quicobfs

import (
	"context"
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
)

func benchPair(b *testing.B) (transports.Listener, transports.Dialer) {
	b.Helper()
	ln, err := New().Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	d, err := New().NewDialer(ln.Addr().String(), ln.BridgeArgs())
	if err != nil {
		b.Fatal(err)
	}
	return ln, d
}

// BenchmarkHandshake measures a masked QUIC handshake plus the carrier stream on
// loopback, until Accept has the conn.
func BenchmarkHandshake(b *testing.B) {
	ln, d := benchPair(b)
	webtest.BenchHandshake(b, ln, d)
}

// BenchmarkThroughput measures one carrier's client→server throughput.
func BenchmarkThroughput(b *testing.B) {
	ln, d := benchPair(b)
	webtest.BenchThroughput(b, ln, d)
}

// BenchmarkMask measures masking one full-size datagram.
func BenchmarkMask(b *testing.B) {
	m := testMasker(b)
	p, buf := longHeader(1250), make([]byte, 0, 1250+saltSize)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		m.seal(buf[:0], p)
	}
}
