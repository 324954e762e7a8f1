package decoy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// scriptedConn is a conn whose peer sent nothing beyond the prefix and then closed: it
// reads EOF and records what was written, so the fuzzer runs without sockets or waits.
type scriptedConn struct {
	out bytes.Buffer
}

func (c *scriptedConn) Read([]byte) (int, error)    { return 0, io.EOF }
func (c *scriptedConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *scriptedConn) Close() error                { return nil }
func (c *scriptedConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}
}
func (c *scriptedConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *scriptedConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptedConn) SetWriteDeadline(time.Time) error { return nil }

func FuzzServe(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("HEAD /about.html HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.0\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=5-2,1-\r\nIf-None-Match: *\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	f.Add([]byte("GET /\r\n"))
	f.Add([]byte("\r\nGET /%41/../b?x HTTP/1.0\r\nX_Y: 1\r\nContent-Length: 2\r\n\r\nab"))
	h := BuiltIn()
	f.Fuzz(func(t *testing.T, prefix []byte) {
		c := &scriptedConn{}
		Serve(c, prefix, h)
		out := c.out.String()
		if out == "" || !strings.Contains(out, "HTTP/1.1 ") && !strings.Contains(out, "\r\nServer: ") {
			return // nothing, or an HTTP/0.9 answer: the page alone, no head
		}
		if !strings.HasPrefix(out, "HTTP/1.1 ") {
			t.Fatalf("answer starts %q, want an HTTP/1.1 status line", firstLine(out))
		}
		if n := strings.Count(out, "HTTP/1.1 "); strings.Count(out, "\r\nServer: nginx\r\n") < n {
			t.Fatalf("a response lacks Server: nginx: %q", out)
		}
	})
}

// FuzzReadHead reads arbitrary bytes as a request head: no panic, a refusal only with
// a status nginx uses, and a head only made of bytes that were sent.
func FuzzReadHead(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET http://[::1]:80/a%2e%2E/ HTTP/1.1\r\nHost: a.\r\nnocolon\r\n\r\n"))
	f.Add([]byte("HEAD /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01\x02\x00\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		hd, err := readHead(bufio.NewReader(bytes.NewReader(in)))
		var refused *headError
		switch {
		case errors.As(err, &refused):
			switch refused.status {
			case 400, 405, 414, 501, 505, statusHeaderTooLarge:
			default:
				t.Fatalf("refused with %d, a status nginx does not use here", refused.status)
			}
		case err != nil:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("read error %v, want EOF at worst", err)
			}
		case !bytes.Contains(in, hd.raw):
			t.Fatalf("head %q is not among the bytes sent", hd.raw)
		}
	})
}

// FuzzHeadWatch: fed in two pieces or whole, the watch sees a whole request exactly
// when readHead reads one.
func FuzzHeadWatch(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 7)
	f.Add([]byte("\r\nGET /\r\n"), 1)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 30)
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		split = min(max(split, 0), len(in))
		var whole, pieces HeadWatch
		got := whole.Feed(in)
		pieces.Feed(in[:split])
		if p := pieces.Feed(in[split:]); p != got {
			t.Fatalf("in two pieces at %d: %v, whole: %v", split, p, got)
		}
		_, err := readHead(bufio.NewReader(bytes.NewReader(in)))
		if want := err == nil; got != want {
			t.Fatalf("watch says %v, readHead %v", got, err)
		}
	})
}
