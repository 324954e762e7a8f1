package quic

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/umbrella-edge/edge/internal/webtest"
)

// TestHTTP3ClientsSeeTheDecoySite is a browser's view: quic-go's own HTTP/3 client
// gets the site, and never reaches the gateway.
func TestHTTP3ClientsSeeTheDecoySite(t *testing.T) {
	ln := listenLoopback(t)
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	client := &http.Client{Transport: &http3.Transport{TLSClientConfig: pinnedTo(t, ln)}, Timeout: hangGuard}
	defer client.Transport.(*http3.Transport).Close()
	for _, path := range []string{"/", "/about.html", "/no-such-page"} {
		resp, err := client.Get("https://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatalf("HTTP/3 GET %s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("HTTP/3 GET %s: body: %v", path, err)
		}
		code, want := webtest.BuiltInPage(t, testServerName, path)
		if resp.StatusCode != code || string(body) != string(want) {
			t.Errorf("HTTP/3 GET %s = %d with %d bytes; want the site's %d with %d bytes", path, resp.StatusCode, len(body), code, len(want))
		}
	}
	// Every stream was routed before it was served, so a carrier would be waiting
	// in Accept by now.
	ln.Close()
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept while HTTP/3 clients came and went: %v; want nothing until the listener closed", err)
	}
}

// TestRejectedCarrierCarriesOnAsHTTP3 is a prober's view: it opens the first stream
// with carrier frames, which the gateway reads and rejects, then sends a request on
// the same stream; it gets the page a plain request gets.
func TestRejectedCarrierCarriesOnAsHTTP3(t *testing.T) {
	tests := []struct {
		name   string
		prefix []byte
		read   int // what the gateway reads before it rejects
	}{
		{"mid-frame", webtest.QUICCarrierFrames(2000), 50},
		{"whole frames", webtest.QUICCarrierFrames(30, 20), 50},
		{"past several frames", webtest.QUICCarrierFrames(10, 10, 10, 1000), 120},
		{"empty frame then short read", webtest.QUICCarrierFrames(0, 500), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := listenLoopback(t)
			rejected := make(chan []byte, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				got := make([]byte, tt.read)
				c.SetReadDeadline(time.Now().Add(hangGuard))
				n, _ := io.ReadFull(c, got)
				rejected <- got[:n]
				c.(interface{ Reject([]byte) }).Reject(got[:n])
			}()
			peer := webtest.DialH3(t, ln.Addr().String(), testServerName)
			status, body := peer.Get(t, tt.prefix, "/")
			code, want := webtest.BuiltInPage(t, testServerName, "/")
			if status != strconv.Itoa(code) || string(body) != string(want) {
				t.Fatalf("GET after carrier frames = %s with %d bytes; want %d with the site's %d bytes", status, len(body), code, len(want))
			}
			if got := <-rejected; len(got) != tt.read {
				t.Fatalf("the gateway read %d bytes of carrier payload; want %d", len(got), tt.read)
			}
		})
	}
}
