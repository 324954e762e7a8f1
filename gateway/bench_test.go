package gateway_test

import (
	"context"
	"net"
	"testing"

	"github.com/umbrella-edge/edge/session"
)

// BenchmarkHandshakes opens and closes sessions on a gateway's tcp listener one after
// another: the gateway's cost per session (accept, admission, replay cache, session
// handshake, close), with the client's share in the same process. make bench measures
// the same per gateway core-second on a child process.
func BenchmarkHandshakes(b *testing.B) {
	f := newFixture(b, nil)
	cc := &session.ClientConfig{GatewayKey: f.bridge.Key, Secret: f.bridge.Secret, Endpoint: f.bridge.Endpoint()}
	for b.Loop() {
		conn, err := net.DialTimeout("tcp", f.bridge.Addr, hangTimeout)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(b.Context(), hangTimeout)
		s, err := session.Client(ctx, conn, cc)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
