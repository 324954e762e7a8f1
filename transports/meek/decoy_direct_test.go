package meek_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/meek"
)

const (
	directName = "www.example.com"
	directPath = "/k3v9w"
)

// TestProbersOfTheGatewayAsFrontSeeTheDecoy probes a gateway that terminates TLS itself
// (no nginx): whatever is not a live session gets what the decoy site gives the same
// request, served by the decoy package on a plain socket.
func TestProbersOfTheGatewayAsFrontSeeTheDecoy(t *testing.T) {
	addr := nginxtest.FreeAddr(t, gatewayHost)
	startGateway(t, gateway.ListenerConfig{
		Transport: meek.New(),
		Listen:    addr,
		Args:      transports.Args{"servername": directName, "path": directPath},
	}, nil)
	site := serveDecoy(t, decoy.BuiltIn())

	for _, tt := range []struct {
		name string
		req  string
	}{
		{"browser GET /", browserGET("/", directName)},
		{"browser GET of a page the site lacks", browserGET("/nope/", directName)},
		{"browser GET of meek's path", browserGET(directPath, directName)},
		{"POST opening a meek session", meekPOST(directPath, directName, nil)},
		{"meek POST of random bytes", meekPOST(directPath, directName, webtest.RandomBytes(600, false))},
		{"random bytes after the TLS handshake", string(webtest.RandomBytes(1000, false))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := webtest.Probe(t, addr, directName, tt.req)
			want := webtest.ProbeRaw(t, site, []byte(tt.req))
			if !webtest.Same(got, want) {
				t.Errorf("the gateway answered\n%v\nthe decoy site answers\n%v", got, want)
			}
		})
	}
	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		plain := serveDecoy(t, decoy.PlainHTTPOnTLSPort())
		req := []byte(browserGET("/", directName))
		if got, want := webtest.ProbeRaw(t, addr, req), webtest.ProbeRaw(t, plain, req); !webtest.Same(got, want) {
			t.Errorf("the gateway answered\n%v\nnginx's page for it is\n%v", got, want)
		}
	})
	t.Run("random bytes instead of TLS", func(t *testing.T) {
		if got := webtest.ProbeRaw(t, addr, webtest.RandomBytes(1000, true)); got.Status != "" {
			t.Errorf("the gateway answered bytes that are not TLS with HTTP:\n%v", got)
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
