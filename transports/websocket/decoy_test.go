package websocket

import (
	"fmt"
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
)

// A valid WebSocket handshake's fields but for the one each probe changes.
const (
	wsKey     = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	wsVersion = "Sec-WebSocket-Version: 13\r\n"
	wsUpgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\n"
)

func request(method, path, host, extra string) string {
	return method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + webtest.BrowserHeaders + extra + "\r\n"
}

// Probes that are almost this transport's request: each must get the website.
var nearMisses = []struct{ name, method, headers string }{
	{"no upgrade", "GET", ""},
	{"no key", "GET", wsUpgrade + wsVersion},
	{"a key that is not 16 bytes", "GET", wsUpgrade + wsVersion + "Sec-WebSocket-Key: c2hvcnQ=\r\n"},
	{"an old protocol version", "GET", wsUpgrade + wsKey + "Sec-WebSocket-Version: 8\r\n"},
	{"no Connection: upgrade", "GET", "Upgrade: websocket\r\n" + wsKey + wsVersion},
	{"POST", "POST", wsUpgrade + wsKey + wsVersion + "Content-Length: 0\r\n"},
}

func TestProbersOfTheGatewaySeeWhatNginxShows(t *testing.T) {
	site := webtest.Site(t)
	h, err := decoy.NewHandler(site, "")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := New(nil).Listen(t.Context(), transports.ListenConfig{
		Addr:  "127.0.0.2:0",
		Args:  ownFront(t),
		Decoy: h,
	})
	if err != nil {
		t.Fatal(err)
	}
	acc := webtest.Accepted(t, ln)
	gw, ref := ln.Addr().String(), webtest.ReferenceNginx(t, site, testFront)
	check := func(t *testing.T, got, want webtest.Reply) {
		t.Helper()
		if !webtest.Same(got, want) {
			t.Fatalf("the gateway answered\n%s\n\nnginx answers\n%s", got, want)
		}
	}
	for _, p := range []struct{ name, request string }{
		{"browser visit", request("GET", "/", testFront, "")},
		{"missing page", request("GET", "/wp-login.php", testFront, "")},
		{"websocket to another path", request("GET", "/socket", testFront, wsUpgrade+wsKey+wsVersion)},
	} {
		t.Run(p.name, func(t *testing.T) {
			check(t, webtest.Probe(t, gw, testFront, p.request), webtest.Probe(t, ref, testFront, p.request))
		})
	}
	for _, p := range nearMisses {
		if p.method == "POST" {
			// POST to a missing file is 404 in nginx and 405 in the decoy package.
			continue
		}
		t.Run("secret path with "+p.name, func(t *testing.T) {
			req := request(p.method, testPath, testFront, p.headers)
			check(t, webtest.Probe(t, gw, testFront, req), webtest.Probe(t, ref, testFront, req))
		})
	}
	t.Run("plain HTTP on the TLS port", func(t *testing.T) {
		req := []byte(request("GET", "/", testFront, ""))
		check(t, webtest.ProbeRaw(t, gw, req), webtest.ProbeRaw(t, ref, req))
	})
	for _, high := range []bool{false, true} {
		t.Run(fmt.Sprintf("random bytes, high bit %v", high), func(t *testing.T) {
			junk := webtest.RandomBytes(517, high)
			check(t, webtest.ProbeRaw(t, gw, junk), webtest.ProbeRaw(t, ref, junk))
		})
	}
	t.Run("replayed first flight", func(t *testing.T) {
		flight := webtest.FirstFlight(t, gw, dialerTo, acc)
		before := acc.Count()
		got, want := webtest.ProbeRaw(t, gw, flight), webtest.ProbeRaw(t, ref, flight)
		check(t, got, want)
		if got.Other == 0 {
			t.Fatal("the gateway sent nothing to a replayed ClientHello; a TLS server answers it")
		}
		if n := acc.Count(); n != before {
			t.Fatalf("the replay became a carrier (%d accepted, %d before)", n, before)
		}
	})
	if n := acc.Count(); n != 1 {
		t.Fatalf("Accept returned %d conns; want only the recorded client's", n)
	}
}

func TestProbersOfTheCDNSeeNothingOfTheGateway(t *testing.T) {
	edge, gatewayAddr := startCDN(t)
	acc := webtest.Accepted(t, listenT(t, gatewayAddr, originArgs()))
	for _, p := range nearMisses {
		t.Run("secret path with "+p.name, func(t *testing.T) {
			got := webtest.Probe(t, edge, testFront, request(p.method, testPath, testFront, p.headers))
			want := webtest.Probe(t, edge, testFront, request(p.method, "/no-such-page", testFront, p.headers))
			if want.Status != "HTTP/1.1 404 Not Found" {
				t.Fatalf("nginx answered a missing page with %s", want)
			}
			if !webtest.Same(got, want) {
				t.Fatalf("the secret path answered\n%s\n\na missing page answers\n%s", got, want)
			}
		})
	}
	t.Run("replayed first flight", func(t *testing.T) {
		flight := webtest.FirstFlight(t, edge, dialerTo, acc)
		before := acc.Count()
		if got := webtest.ProbeRaw(t, edge, flight); got.Status != "" {
			t.Fatalf("a replayed flight got %s; want no HTTP answer", got)
		}
		if n := acc.Count(); n != before {
			t.Fatalf("the replay became a carrier (%d accepted, %d before)", n, before)
		}
	})
}
