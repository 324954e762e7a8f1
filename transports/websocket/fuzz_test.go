package websocket

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/transports"
)

// FuzzNewDialer feeds bridge-line arguments to the client: every failure names its
// argument, and every success asks for a URL whose host and path are the ones given.
func FuzzNewDialer(f *testing.F) {
	f.Add("", testFront, "", testPath)
	f.Add("", "allowed.example", "hidden.example:8443", testPath)
	f.Add("wss://hidden.example"+testPath, "allowed.example", "", "")
	f.Add("https://1.2.3.4/x", "", "", "")
	f.Add("", "", "a b", "/x?y")
	f.Fuzz(func(t *testing.T, rawURL, servername, host, path string) {
		args := transports.Args{}
		for k, v := range map[string]string{argURL: rawURL, argServerName: servername, argHost: host, argPath: path} {
			if v != "" {
				args[k] = v
			}
		}
		d, err := New(nil).NewDialer("203.0.113.5:443", args)
		if err != nil {
			var ae *transports.ArgError
			if !errors.As(err, &ae) {
				t.Fatalf("NewDialer(%v) = %v, which names no argument", args, err)
			}
			return
		}
		u, err := url.Parse(d.(*dialer).url)
		if err != nil || u.Scheme != "https" || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("NewDialer(%v) asks for %q", args, d.(*dialer).url)
		}
		if rawURL == "" && (u.EscapedPath() != path || (host != "" && u.Host != host)) {
			t.Fatalf("NewDialer(%v) asks for %q", args, d.(*dialer).url)
		}
		if strings.ContainsAny(u.Host, " \r\n/") {
			t.Fatalf("NewDialer(%v) asks for host %q", args, u.Host)
		}
	})
}
