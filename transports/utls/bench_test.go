package utls

import (
	"context"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// BenchmarkHandshake measures one TCP connect plus TLS 1.3 handshake on loopback per
// fingerprint, with and without ClientHello fragmentation.
func BenchmarkHandshake(b *testing.B) {
	for _, bc := range []struct{ fp, frag string }{{tlskit.FPChrome, "0"}, {tlskit.FPFirefox, "0"}, {tlskit.FPSafari, "0"}, {tlskit.FPChrome, "1"}} {
		b.Run(bc.fp+"/frag="+bc.frag, func(b *testing.B) {
			ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: transports.Args{tlskit.ArgServerName: testServerName}})
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() { c.Read(make([]byte, 1)); c.Close() }()
				}
			}()
			args := ln.BridgeArgs()
			args[tlskit.ArgFP], args[tlskit.ArgFrag] = bc.fp, bc.frag
			d, err := New(nil).NewDialer(ln.Addr().String(), args)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				c, err := d.Dial(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
