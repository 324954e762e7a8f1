package proxy_test

import (
	"context"
	"log/slog"
	"net"

	"github.com/umbrella-edge/edge/client/proxy"
)

// The client wires its Dial to a SOCKS5 server on loopback; apps then reach "mls" (or
// chat.example.org, mapped to it in the config) and nothing else.
func ExampleSOCKS5() {
	var dial proxy.DialFunc = func(ctx context.Context, service string) (net.Conn, error) {
		return nil, proxy.ErrUnreachable // the client's Dial in real use
	}
	ln, err := net.Listen("tcp", "127.0.0.1:1080")
	if err != nil {
		slog.Error("socks listener", "err", err)
		return
	}
	srv := &proxy.Server{Handler: &proxy.SOCKS5{
		Dial:    dial,
		Resolve: proxy.StaticResolver(map[string]string{"chat.example.org": "mls"}),
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Serve(ctx, ln); err != nil { // returns nil once ctx is cancelled
		slog.Error("socks proxy stopped", "err", err)
	}
}
