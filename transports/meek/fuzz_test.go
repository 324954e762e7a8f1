package meek

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
)

// FuzzRequestHead feeds the server's request parsing: the head reader, net/http's
// parser on the head, and meek's reading of it.
func FuzzRequestHead(f *testing.F) {
	for _, seed := range []string{
		"POST /meek/ HTTP/1.1\r\nHost: meek.example\r\nX-Session-Id: aGVsbG8gd29ybGQ=\r\nX-Session-Window: 131072\r\nContent-Length: 5\r\n\r\nhello",
		"POST /meek/ HTTP/1.1\r\nHost: a\r\nX-Session-Id: abcdefgh\r\nX-Session-Window: 0\r\nX-Session-End: close\r\nContent-Length: 0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nX-Session-Id: abcdefgh\r\nX-Session-Window: 01\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"HELLO\r\n\r\n",
		"\x16\x03\x01\x02\x00",
		"GET " + strings.Repeat("a", 9000) + " HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		head, err := readHead(bufio.NewReaderSize(bytes.NewReader(data), 16<<10))
		if len(head) > maxHeadBytes+16<<10 {
			t.Fatalf("readHead kept %d bytes, more than its bound", len(head))
		}
		if err != nil {
			return
		}
		if !bytes.HasSuffix(head, []byte("\n")) || !bytes.Contains(data, head) {
			t.Fatalf("readHead returned a head without its blank line: %q", head)
		}
		req, err := httpfront.ParseRequest(head)
		if err != nil {
			return
		}
		r, ok := parseMeekRequest(req, "/meek/")
		if !ok {
			return
		}
		if !validSessionID(r.id) || r.window < 0 || r.length < 0 || r.length > maxRequestBody || req.Method != http.MethodPost {
			t.Fatalf("accepted as meek: %+v from %q", r, head)
		}
	})
}

// FuzzResponse feeds the client's reading of a front's response.
func FuzzResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Session-Window: 65536\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Session-Window: 0\r\nX-Session-End: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Session-Window: 10\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\nX-Session-Window: 10\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope!",
		"HTTP/1.1 200 OK\r\nX-Session-Window: -1\r\n\r\n",
		"garbage",
	} {
		f.Add([]byte(seed), 1024, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, window int, answered bool) {
		window = min(max(window, 0), maxResponseBody)
		c := &clientConn{pipe: newPipe(nil, nil), id: "fuzz"}
		conn := &replayConn{r: bytes.NewReader(data)}
		c.conn = conn
		p := &poller{c: c, answered: answered, resp: make([]byte, maxResponseBody)}
		n, err := p.readResponse(conn, window)
		if err != nil {
			return
		}
		if n > window {
			t.Fatalf("delivered %d bytes to a window of %d", n, window)
		}
		if got := c.pipe.in.len(); got != n {
			t.Fatalf("reported %d bytes, delivered %d", n, got)
		}
	})
}

// FuzzNewDialer feeds bridge-line arguments to the client's parser: it errs or builds
// a dialer, never panics, and names an argument when it blames one.
func FuzzNewDialer(f *testing.F) {
	f.Add("front.example:443", "front.example", "https://meek.example/m/", "", "")
	f.Add("192.0.2.1:443", "", "", "meek.example", "/x")
	f.Add("a:1", "a", "https://[::1]:8/m", "", "")
	f.Add("a:1", "a", "", "", "/")
	f.Fuzz(func(t *testing.T, addr, servername, url, host, path string) {
		args := transports.Args{}
		for k, v := range map[string]string{"servername": servername, "url": url, "host": host, "path": path} {
			if v != "" {
				args[k] = v
			}
		}
		d, err := newDialer(addr, args, nil)
		var ae *transports.ArgError
		switch {
		case err == nil && (d.target.host == "" || !strings.HasPrefix(d.target.path, "/")):
			t.Fatalf("accepted %q %v with target %+v", addr, args, d.target)
		case errors.As(err, &ae) && ae.Key == "":
			t.Fatalf("an ArgError that names no argument: %v", err)
		}
	})
}

// replayConn is a net.Conn that reads data and discards writes.
type replayConn struct {
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *replayConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *replayConn) Close() error                       { return nil }
func (c *replayConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *replayConn) SetDeadline(t time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(t time.Time) error { return nil }
