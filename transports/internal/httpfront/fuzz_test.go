package httpfront

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// chunkReader returns its data a few bytes at a time, as a network might.
type chunkReader struct {
	data []byte
	step int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.step, len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzReadHead reads arbitrary bytes as a request head, as the front does with every
// peer, and parses what it found.
func FuzzReadHead(f *testing.F) {
	f.Add([]byte("GET /secret HTTP/1.1\r\nHost: a.example\r\nConnection: upgrade\r\nUpgrade: websocket\r\nX-Forwarded-For: 1.2.3.4, 127.0.0.5\r\n\r\nrest"), 7)
	f.Add([]byte("GET / HTTP/1.0\n\n"), 1)
	f.Add([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 3)
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x00\x01"), 100)
	f.Add(bytes.Repeat([]byte("A"), MaxHead+10), 4096)
	f.Fuzz(func(t *testing.T, data []byte, step int) {
		if step <= 0 || step > 1<<16 {
			step = 1 + step&0xff
		}
		got, n, err := ReadHead(&chunkReader{data: bytes.Clone(data), step: step})
		if !bytes.HasPrefix(data, got) {
			t.Fatalf("ReadHead returned %q, which is not what was read", got)
		}
		switch {
		case err == nil:
			head := got[:n]
			if n == 0 || !(bytes.HasSuffix(head, []byte("\n\n")) || bytes.HasSuffix(head, []byte("\n\r\n"))) {
				t.Fatalf("head %q does not end in a blank line", head)
			}
			if n > MaxHead+1 {
				t.Fatalf("head of %d bytes is longer than %d", n, MaxHead)
			}
			if req, err := ParseRequest(head); err == nil {
				IsUpgrade(req.Header)
				forwardedFor(req.Header)
			}
			if resp, err := ParseResponse(head); err == nil {
				IsUpgrade(resp.Header)
			}
		case errors.Is(err, ErrHeadTooLong):
			if len(got) <= MaxHead {
				t.Fatalf("ErrHeadTooLong after %d bytes", len(got))
			}
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzParseURL checks that whatever a bridge line's url= holds, an accepted one is a
// Host and a path that make one well-formed request line.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"https://www.example.com/abc", "wss://a.example:8443/x/y", "https://1.2.3.4/a",
		"https://a.example/a b", "https://user@a.example/x", "https://a.example/x?q", "https://[::1]/x",
		"https://a.example:0/x", "https://xn--bcher-kva.example/%41",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseURL(raw, "https", "wss")
		if err != nil {
			return
		}
		req := "GET " + u.EscapedPath() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n"
		parsed, err := ParseRequest([]byte(req))
		if err != nil {
			t.Fatalf("ParseURL(%q) accepted it, but its request %q does not parse: %v", raw, req, err)
		}
		if parsed.RequestURI != u.EscapedPath() || parsed.Host != u.Host {
			t.Fatalf("request %q reads back as %s for host %s", req, parsed.RequestURI, parsed.Host)
		}
		if strings.ContainsAny(u.Host, " \r\n") {
			t.Fatalf("accepted host %q", u.Host)
		}
	})
}

func TestForwardedForTakesTheProxysEntry(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"nginx appended to the client's claim", []string{"203.0.113.9, 127.0.0.5"}, "127.0.0.5"},
		{"several fields", []string{"203.0.113.9", "198.51.100.7"}, "198.51.100.7"},
		{"IPv6", []string{"2001:db8::1"}, "2001:db8::1"},
		{"not an address", []string{"unknown"}, ""},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"X-Forwarded-For": tt.values}
			got := forwardedFor(h)
			if tt.want == "" {
				if got != nil {
					t.Fatalf("forwardedFor(%v) = %v, want none", tt.values, got)
				}
				return
			}
			if ta, ok := got.(*net.TCPAddr); !ok || ta.IP.String() != tt.want {
				t.Fatalf("forwardedFor(%v) = %v, want %s", tt.values, got, tt.want)
			}
		})
	}
}
