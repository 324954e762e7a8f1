package webtunnel

import (
	"errors"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
)

// FuzzCheckResponse parses arbitrary response heads as the client does with what a
// front answers; only a 101 agreeing to the Upgrade may pass.
func FuzzCheckResponse(f *testing.F) {
	f.Add("HTTP/1.1 101 Switching Protocols\r\nServer: nginx\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
	f.Add("HTTP/1.1 101 Switching Protocols\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n")
	f.Add("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
	f.Add("HTTP/1.1 101 OK\r\nUpgrade: h2c\r\n\r\n")
	f.Add("\x15\x03\x03\x00\x02\x02\x28")
	f.Fuzz(func(t *testing.T, head string) {
		err := checkResponse([]byte(head))
		if err == nil && !strings.HasPrefix(head, "HTTP/") {
			t.Fatalf("accepted %q", head)
		}
		if err == nil {
			resp, perr := httpfront.ParseResponse([]byte(head))
			if perr != nil || resp.StatusCode != 101 {
				t.Fatalf("accepted %q as a 101", head)
			}
		}
	})
}

// FuzzNewDialer feeds bridge-line arguments to the client: every failure names its
// argument, and every success sends a request line that parses back to the url.
func FuzzNewDialer(f *testing.F) {
	f.Add(testURL, "", "", "0.0.1")
	f.Add("https://a.example:8443/x/y", "cdn.example", "hellofirefox_auto", "")
	f.Add("https://a.example/x y", "", "none", "")
	f.Add("http://a.example/x", "1.2.3.4", "HelloRandomizedNoALPN", "")
	f.Fuzz(func(t *testing.T, url, servername, utlsName, ver string) {
		args := transports.Args{argURL: url}
		if servername != "" {
			args[argServerName] = servername
		}
		if utlsName != "" {
			args[argUTLS] = utlsName
		}
		if ver != "" {
			args[argVer] = ver
		}
		d, err := New(nil).NewDialer("203.0.113.5:443", args)
		if err != nil {
			var ae *transports.ArgError
			if !errors.As(err, &ae) {
				t.Fatalf("NewDialer(%v) = %v, which names no argument", args, err)
			}
			return
		}
		req, err := httpfront.ParseRequest(d.(*dialer).request)
		if err != nil {
			t.Fatalf("request %q for %v does not parse: %v", d.(*dialer).request, args, err)
		}
		if !isUpgrade(req) || !strings.HasSuffix(url, req.RequestURI) {
			t.Fatalf("request %q for %v is not an Upgrade of the url's path", d.(*dialer).request, args)
		}
	})
}
