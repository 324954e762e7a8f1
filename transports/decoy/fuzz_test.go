package decoy

import (
	"bytes"
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
	h := BuiltIn()
	f.Fuzz(func(t *testing.T, prefix []byte) {
		c := &scriptedConn{}
		Serve(c, prefix, h)
		out := c.out.String()
		if out == "" {
			return
		}
		if !strings.HasPrefix(out, "HTTP/1.1 ") {
			t.Fatalf("answer starts %q, want an HTTP/1.1 status line", firstLine(out))
		}
		if n := strings.Count(out, "HTTP/1.1 "); strings.Count(out, "\r\nServer: nginx\r\n") < n {
			t.Fatalf("a response lacks Server: nginx: %q", out)
		}
	})
}
