package webtunnel

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
)

func get(path, extra string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + testServerName + "\r\n" + webtest.BrowserHeaders + extra + "\r\n"
}

const upgradeHeaders = "Connection: upgrade\r\nUpgrade: websocket\r\n"

func TestProbersOfItsOwnFrontSeeWhatNginxShows(t *testing.T) {
	site := webtest.Site(t)
	h, err := decoy.NewHandler(site, "")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := New(nil).Listen(t.Context(), transports.ListenConfig{Addr: "127.0.0.2:0", Args: ownFront(t), Decoy: h})
	if err != nil {
		t.Fatal(err)
	}
	acc := webtest.Accepted(t, ln)
	gw, ref := ln.Addr().String(), webtest.ReferenceNginx(t, site, testServerName)

	for _, p := range []struct{ name, request string }{
		{"browser visit", get("/", "")},
		{"another page", get("/about.html", "")},
		{"missing page", get("/wp-login.php", "")},
		{"secret path without the upgrade", get(testPath, "")},
		{"upgrade to another path", get("/chat", upgradeHeaders)},
		{"upgrade with only one of the headers", get(testPath, "Upgrade: websocket\r\n")},
		{"upgrade that is not to websocket", get(testPath, "Connection: upgrade\r\nUpgrade: h2c\r\n")},
		{"HEAD of the secret path", "HEAD " + testPath + " HTTP/1.1\r\nHost: " + testServerName + "\r\n" + upgradeHeaders + "\r\n"},
		{"POST to an existing page", "POST / HTTP/1.1\r\nHost: " + testServerName + "\r\nContent-Length: 0\r\n\r\n"},
	} {
		t.Run(p.name, func(t *testing.T) {
			got, want := webtest.Probe(t, gw, testServerName, p.request), webtest.Probe(t, ref, testServerName, p.request)
			if !webtest.Same(got, want) {
				t.Fatalf("the gateway answered\n%s\n\nnginx answers\n%s", got, want)
			}
		})
	}
	t.Run("plain HTTP on the TLS port", func(t *testing.T) {
		req := []byte(get("/", ""))
		got, want := webtest.ProbeRaw(t, gw, req), webtest.ProbeRaw(t, ref, req)
		if !webtest.Same(got, want) {
			t.Fatalf("the gateway answered\n%s\n\nnginx answers\n%s", got, want)
		}
	})
	for _, high := range []bool{false, true} {
		t.Run(fmt.Sprintf("random bytes, high bit %v", high), func(t *testing.T) {
			junk := webtest.RandomBytes(517, high)
			if got, want := webtest.ProbeRaw(t, gw, junk), webtest.ProbeRaw(t, ref, junk); !webtest.Same(got, want) {
				t.Fatalf("the gateway answered\n%s\n\nnginx answers\n%s", got, want)
			}
		})
	}
	t.Run("replayed first flight", func(t *testing.T) {
		flight := webtest.FirstFlight(t, gw, dialerTo, acc)
		before := acc.Count()
		got, want := webtest.ProbeRaw(t, gw, flight), webtest.ProbeRaw(t, ref, flight)
		if got.Status != "" || want.Status != "" {
			t.Fatalf("a replayed flight got %s from the gateway and %s from nginx; want no HTTP answer", got, want)
		}
		if got.Other == 0 {
			t.Fatalf("the gateway sent nothing to a replayed ClientHello; a TLS server answers it")
		}
		if n := acc.Count(); n != before {
			t.Fatalf("the replay became a carrier (%d accepted, %d before)", n, before)
		}
	})
	if n := acc.Count(); n != 1 {
		t.Fatalf("Accept returned %d conns; want only the recorded client's", n)
	}
}

func TestProbersOfNginxFrontSeeNothingOfTheGateway(t *testing.T) {
	front, gatewayAddr := startFront(t)
	ln := listenT(t, gatewayAddr, behindNginxArgs())
	acc := webtest.Accepted(t, ln)
	for _, p := range []struct{ name, method, headers string }{
		{"secret path without the upgrade", "GET", webtest.BrowserHeaders},
		{"secret path with only the Upgrade header", "GET", webtest.BrowserHeaders + "Upgrade: websocket\r\n"},
		{"secret path with only the Connection header", "GET", webtest.BrowserHeaders + "Connection: upgrade\r\n"},
		{"POST to the secret path with the upgrade", "POST", upgradeHeaders + "Content-Length: 0\r\n"},
		{"HEAD of the secret path with the upgrade", "HEAD", upgradeHeaders},
	} {
		t.Run(p.name, func(t *testing.T) {
			request := func(path string) string {
				return p.method + " " + path + " HTTP/1.1\r\nHost: " + testServerName + "\r\n" + p.headers + "\r\n"
			}
			got, want := webtest.Probe(t, front, testServerName, request(testPath)), webtest.Probe(t, front, testServerName, request("/no-such-page"))
			if want.Status != "HTTP/1.1 404 Not Found" {
				t.Fatalf("nginx answered a missing page with %s", want)
			}
			if !webtest.Same(got, want) {
				t.Fatalf("the secret path answered\n%s\n\na missing page answers\n%s", got, want)
			}
		})
	}
	t.Run("replayed first flight", func(t *testing.T) {
		flight := webtest.FirstFlight(t, front, dialerTo, acc)
		before := acc.Count()
		if got := webtest.ProbeRaw(t, front, flight); got.Status != "" {
			t.Fatalf("a replayed flight got %s; want no HTTP answer", got)
		}
		if n := acc.Count(); n != before {
			t.Fatalf("the replay became a carrier (%d accepted, %d before)", n, before)
		}
	})
}

// TestForwardedClientAddress checks that behind nginx a carrier's RemoteAddr is the
// address nginx saw the client come from, not nginx's own and not what the client
// claimed in an X-Forwarded-For of its own.
func TestForwardedClientAddress(t *testing.T) {
	front, gatewayAddr := startFront(t)
	acc := webtest.Accepted(t, listenT(t, gatewayAddr, behindNginxArgs()))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
	c, err := tls.DialWithDialer(d, "tcp", front, &tls.Config{ServerName: testServerName, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET "+testPath+" HTTP/1.1\r\nHost: "+testServerName+"\r\n"+upgradeHeaders+"X-Forwarded-For: 203.0.113.9\r\n\r\n")
	got := acc.WaitFor(t, 1).RemoteAddr()
	if ip := got.(*net.TCPAddr).IP.String(); ip != "127.0.0.5" {
		t.Fatalf("RemoteAddr %v, want the client's address 127.0.0.5", got)
	}
}
