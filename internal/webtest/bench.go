package webtest

import (
	"context"
	"io"
	"testing"

	"github.com/umbrella-edge/edge/transports"
)

// BenchHandshake measures Dial to ln (TCP, TLS, the HTTP Upgrade) until Accept has the
// conn.
func BenchHandshake(b *testing.B, ln transports.Listener, d transports.Dialer) {
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for b.Loop() {
		c, err := d.Dial(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchThroughput measures one conn's throughput from the client to ln's side, in
// 64 KiB writes.
func BenchThroughput(b *testing.B, ln transports.Listener, d transports.Dialer) {
	defer ln.Close()
	done := make(chan int64, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			done <- 0
			return
		}
		n, _ := io.Copy(io.Discard, s)
		s.Close()
		done <- n
	}()
	c, err := d.Dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	<-done
}
