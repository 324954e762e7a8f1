package meek_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/meek"
)

const directName = "www.example.com"

// TestProbersOfTheGatewayAsFrontSeeTheDecoy probes a gateway that terminates TLS itself
// (no nginx): whatever is not a live session gets what the decoy site gives the same
// request, served by the decoy package on a plain socket.
func TestProbersOfTheGatewayAsFrontSeeTheDecoy(t *testing.T) {
	addr := nginxtest.FreeAddr(t, gatewayHost)
	startGateway(t, gateway.ListenerConfig{
		Transport: meek.New(),
		Listen:    addr,
		Args:      transports.Args{"servername": directName},
	}, nil)
	site := serveDecoy(t, decoy.BuiltIn())

	for _, tt := range []struct {
		name string
		req  []byte
	}{
		{"browser GET /", browserGET("/")},
		{"browser GET of a page the site lacks", browserGET("/nope/")},
		{"POST opening a meek session", meekPOST("/", directName, nil)},
		{"meek POST of random bytes", meekPOST("/", directName, randomBytes(3, 600))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ask(t, addr, directName, tt.req)
			want := ask(t, site, "", tt.req)
			if got != want {
				t.Errorf("the gateway answered\n%v\nthe decoy site answers\n%v", got, want)
			}
		})
	}
	t.Run("random bytes after the TLS handshake", func(t *testing.T) {
		raw := randomBytes(4, 1000)
		if got, want := askRaw(t, addr, directName, raw), askRaw(t, site, "", raw); got != want {
			t.Errorf("the gateway answered\n%q\nthe decoy site answers\n%q", got, want)
		}
	})
	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		plain := serveDecoy(t, decoy.PlainHTTPOnTLSPort())
		raw := browserGET("/")
		if got, want := askRaw(t, addr, "", raw), askRaw(t, plain, "", raw); got != want {
			t.Errorf("the gateway answered\n%q\nnginx's page for it is\n%q", got, want)
		}
	})
	t.Run("random bytes instead of TLS", func(t *testing.T) {
		if got := askRaw(t, addr, "", randomBytes(5, 1000)); strings.Contains(got, "HTTP/") {
			t.Errorf("the gateway answered bytes that are not TLS with HTTP:\n%q", got)
		}
	})
}

// serveDecoy serves h with decoy.Serve on a loopback socket: what the decoy site shows
// when nothing else is involved.
func serveDecoy(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go decoy.Serve(c, nil, h)
		}
	}()
	return ln.Addr().String()
}
