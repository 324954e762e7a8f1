package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// The parsers read from the app's socket, and whatever follows a message is the app's
// stream: they must consume exactly the message, never more.

func FuzzSOCKS5Greeting(f *testing.F) {
	f.Add(greetNoAuth)
	f.Add(greetBoth)
	f.Add(append(slices.Clone(greetUserPass), userPassAuth...))
	f.Add([]byte{5, 0})
	f.Add([]byte{4, 1, 0})
	f.Add([]byte{5, 255})
	f.Add([]byte{5, 1, 2, 1, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		methods, err := readSOCKS5Greeting(r)
		if err != nil {
			return
		}
		if used := len(in) - r.Len(); used != 2+len(methods) || int(in[1]) != len(methods) {
			t.Fatalf("greeting %x: consumed %d bytes for %d methods", in, used, len(methods))
		}
		rest := in[2+len(methods):]
		r = bytes.NewReader(rest)
		if err := readUserPass(r); err != nil {
			return
		}
		used := len(rest) - r.Len()
		if ulen := int(rest[1]); used != 3+ulen+int(rest[2+ulen]) {
			t.Fatalf("username/password %x: consumed %d bytes", rest, used)
		}
	})
}

func FuzzSOCKS5Request(f *testing.F) {
	f.Add(socksRequestBytes(1, "mls", 443))
	f.Add(socksRequestBytes(1, "10.0.0.7", 80))
	f.Add(socksRequestBytes(1, "2001:db8::7", 80))
	f.Add(socksRequestBytes(2, "chat.example.org", 1))
	f.Add(append(socksRequestBytes(1, "mls", 443), "stream bytes"...))
	f.Add([]byte{5, 1, 0, 9, 1, 2, 3, 4})
	f.Add([]byte{5, 1, 0, 3, 0, 0, 80})
	f.Add([]byte{5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7, 0, 80})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		req, err := readSOCKS5Request(r)
		if err != nil {
			if errors.Is(err, errAddressType) && (len(in) < 4 || slices.Contains([]byte{1, 3, 4}, in[3])) {
				t.Fatalf("request %x: address type error for a known type", in)
			}
			return
		}
		addrLen := map[byte]int{1: 4, 4: 16}[in[3]]
		if in[3] == 3 {
			addrLen = 1 + int(in[4])
		}
		if used := len(in) - r.Len(); used != 4+addrLen+2 {
			t.Fatalf("request %x: consumed %d bytes, want %d", in, used, 4+addrLen+2)
		}
		if req.Host == "" || req.Command != in[1] {
			t.Fatalf("request %x parsed as %+v", in, req)
		}
		if in[3] == 3 {
			// A domain name comes back as sent, so it round-trips.
			again, err := readSOCKS5Request(bytes.NewReader(socksRequestBytes(req.Command, req.Host, req.Port)))
			if err == nil && again.Port != req.Port {
				t.Fatalf("request %x: re-encoded port %d, want %d", in, again.Port, req.Port)
			}
		}
	})
}

func FuzzHTTPConnect(f *testing.F) {
	f.Add("CONNECT mls:443 HTTP/1.1\r\nHost: mls:443\r\n\r\n")
	f.Add("CONNECT [2001:db8::7]:443 HTTP/1.1\r\n\r\n\x16\x03\x01")
	f.Add("CONNECT chat.example.org:443 HTTP/1.0\r\nProxy-Authorization: Basic YTpi\r\n\r\nearly")
	f.Add("GET http://mls/ HTTP/1.1\r\nHost: mls\r\n\r\n")
	f.Add("CONNECT mls HTTP/1.1\r\n\r\n")
	f.Add("CONNECT /path HTTP/1.1\r\nHost: mls:443\r\n\r\n")
	f.Add("CONNECT mls:99999 HTTP/1.1\r\n\r\n")
	f.Add("\x05\x01\x00")
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReader(strings.NewReader(in))
		req, err := readHTTPConnect(br)
		if err != nil {
			return
		}
		if req.Host == "" || strings.ContainsAny(req.Host, "/ \r\n") {
			t.Fatalf("request %q: target host %q", in, req.Host)
		}
		rest, _ := io.ReadAll(br)
		if !strings.HasSuffix(in, string(rest)) || !strings.Contains(in[:len(in)-len(rest)], "\n") {
			t.Fatalf("request %q: left %q unread, not the bytes after the headers", in, rest)
		}
	})
}
