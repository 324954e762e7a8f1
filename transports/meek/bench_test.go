package meek

import (
	"io"
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
)

// The benchmarks run on loopback against the gateway as its own front; nginx in the
// path adds its own copying, which `make bench` measures end to end.

func BenchmarkHandshake(b *testing.B) {
	ln, d := benchPair(b)
	webtest.BenchHandshake(b, ln, d)
}

// BenchmarkThroughput is upstream: request bodies of up to 64 KiB.
func BenchmarkThroughput(b *testing.B) {
	ln, d := benchPair(b)
	webtest.BenchThroughput(b, ln, d)
}

// BenchmarkThroughputDown is downstream: response bodies of up to 128 KiB.
func BenchmarkThroughputDown(b *testing.B) {
	ln, d := benchPair(b)
	defer ln.Close()
	buf, sent := make([]byte, 64<<10), make([]byte, 64<<10)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		for {
			if _, err := s.Write(sent); err != nil {
				return
			}
		}
	}()
	c, err := d.Dial(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEcho1KiB is one 1 KiB message to an echo and back on an established conn:
// a round trip of a messenger's message, polls and holds included.
func BenchmarkEcho1KiB(b *testing.B) {
	ln, d := benchPair(b)
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		io.Copy(s, s)
	}()
	c, err := d.Dial(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 1024)
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPair(b *testing.B) (transports.Listener, transports.Dialer) {
	ln, err := New(nil).Listen(b.Context(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: transports.Args{argServerName: testServerName, argPath: testPath}})
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(nil).NewDialer(ln.Addr().String(), ln.BridgeArgs()) // with the listener's pin
	if err != nil {
		b.Fatal(err)
	}
	return ln, d
}
