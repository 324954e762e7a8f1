package decoy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serveOnce accepts one loopback conn, reads split bytes of it as the gateway would,
// and runs Serve with them as the prefix. done is closed when Serve returns.
func serveOnce(t *testing.T, h http.Handler, split int) (addr string, done <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		prefix := make([]byte, split)
		if _, err := io.ReadFull(c, prefix); err != nil {
			c.Close()
			return
		}
		Serve(c, prefix, h)
	}()
	return ln.Addr().String(), ch
}

func waitDone(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after the client closed")
	}
}

func TestServeAnswersRequestsWhoseStartWasAlreadyRead(t *testing.T) {
	req := "GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\n\r\n"
	for _, split := range []int{1, 7, len(req) - 1, len(req)} {
		addr, done := serveOnce(t, BuiltIn(), split)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		// Two requests on one connection: keep-alive works after the prefix is used up.
		for i := range 2 {
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("split %d request %d: %v", split, i, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), "Joinery") {
				t.Fatalf("split %d request %d: got %d %q, want 200 and the index page", split, i, resp.StatusCode, body)
			}
		}
		c.Close()
		waitDone(t, done)
	}
}

func TestServeAnswersGarbageLikeAWebServerAndReturns(t *testing.T) {
	addr, done := serveOnce(t, BuiltIn(), 4)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got status %d, want 400", resp.StatusCode)
	}
	c.Close()
	waitDone(t, done)
}

// exchange sends raw to a decoy conn and returns everything it answers until it hangs up.
func exchange(t *testing.T, h http.Handler, raw string) string {
	t.Helper()
	addr, done := serveOnce(t, h, 0)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, raw)
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until the decoy hangs up: %v", err)
	}
	c.Close()
	waitDone(t, done)
	return string(got)
}

// headerNames lists the field names of the first response in raw, in order.
func headerNames(raw string) []string {
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	var names []string
	for _, line := range strings.Split(head, "\r\n")[1:] {
		name, _, _ := strings.Cut(line, ":")
		names = append(names, name)
	}
	return names
}

func TestServeWritesResponsesAsNginxDoes(t *testing.T) {
	tests := []struct {
		name        string
		request     string
		wantStatus  string
		wantHeaders []string
		wantBody    string
	}{
		{"static page", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK",
			[]string{"Server", "Date", "Content-Type", "Content-Length", "Last-Modified", "Connection", "ETag", "Accept-Ranges"}, "Joinery"},
		{"missing page", "GET /admin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "HTTP/1.1 404 Not Found",
			[]string{"Server", "Date", "Content-Type", "Content-Length", "Connection"}, "<hr><center>nginx</center>"},
		{"not HTTP", "\x16\x03\x01\x00\x05hello\r\n\r\n", "HTTP/1.1 400 Bad Request",
			[]string{"Server", "Date", "Content-Type", "Content-Length", "Connection"}, "400 Bad Request"},
		{"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request",
			[]string{"Server", "Date", "Content-Type", "Content-Length", "Connection"}, "400 Bad Request"},
		{"HTTP/1.0 closes after one response", "GET /robots.txt HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK",
			[]string{"Server", "Date", "Content-Type", "Content-Length", "Last-Modified", "Connection", "ETag", "Accept-Ranges"}, "User-agent"},
		{"header longer than nginx takes", "GET / HTTP/1.1\r\nHost: a\r\nCookie: " + strings.Repeat("a", 9000) + "\r\n\r\n", "HTTP/1.1 400 Bad Request",
			[]string{"Server", "Date", "Content-Type", "Content-Length", "Connection"}, "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exchange(t, BuiltIn(), tt.request)
			if !strings.HasPrefix(got, tt.wantStatus+"\r\n") {
				t.Fatalf("response starts %q, want %q", firstLine(got), tt.wantStatus)
			}
			if names := headerNames(got); strings.Join(names, ",") != strings.Join(tt.wantHeaders, ",") {
				t.Errorf("header fields %v, want %v", names, tt.wantHeaders)
			}
			if !strings.Contains(got, "\r\nServer: nginx\r\n") || !strings.Contains(got, "\r\nConnection: close\r\n") {
				t.Errorf("want Server: nginx and Connection: close in %q", got)
			}
			if !strings.Contains(got, tt.wantBody) {
				t.Errorf("body does not contain %q: %q", tt.wantBody, got)
			}
		})
	}
}

func TestServeHeadHasTheLengthButNoBody(t *testing.T) {
	got := exchange(t, BuiltIn(), "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /robots.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	head, rest, _ := strings.Cut(got, "\r\n\r\n")
	index, err := siteFiles.ReadFile("site/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if want := "\r\nContent-Length: " + strconv.Itoa(len(index)) + "\r\n"; !strings.Contains(head, want) {
		t.Errorf("HEAD response %q lacks %q", head, want)
	}
	if !strings.HasPrefix(rest, "HTTP/1.1 200 OK\r\n") {
		t.Fatalf("after the HEAD response came %q, want the next response at once", firstLine(rest))
	}
}

func TestServeStreamsLongUnsizedBodiesChunked(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB, past the buffered size
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, big)
	})
	addr, done := serveOnce(t, h, 0)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /file HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || string(body) != big {
		t.Fatalf("got transfer encoding %v and %d body bytes, want chunked and %d", resp.TransferEncoding, len(body), len(big))
	}
	c.Close()
	waitDone(t, done)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

func TestPlainHTTPOnTLSPortAnswersOnceAsNginx(t *testing.T) {
	got := exchange(t, PlainHTTPOnTLSPort(), "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /again HTTP/1.1\r\nHost: a\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\n") || !strings.Contains(got, "\r\nConnection: close\r\n") ||
		!strings.Contains(got, "The plain HTTP request was sent to HTTPS port") {
		t.Fatalf("got %q, want nginx's 400 page for plain HTTP on a TLS port, then close", got)
	}
	if n := strings.Count(got, "HTTP/1.1 "); n != 1 {
		t.Fatalf("got %d responses, want one before the close", n)
	}
}

// lateConn is a conn whose reads all come after their deadline, as a goroutine's does
// when it runs late beside a CPU hog.
type lateConn struct{ net.Conn }

func (c lateConn) SetReadDeadline(time.Time) error { return c.Conn.SetReadDeadline(time.Unix(1, 0)) }
func (c lateConn) NetConn() net.Conn               { return c.Conn }

// TestPendingSeesBytesAReadWouldMissLate: unread bytes in the socket decide between
// nginx's FIN and a reset, so pending must see them whenever its read would run.
func TestPendingSeesBytesAReadWouldMissLate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if pending(lateConn{conn}) {
		t.Fatal("pending with nothing sent")
	}
	if _, err := peer.Write(make([]byte, 516)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if n, ok := queued(conn); !ok || n == 516 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the peer's bytes never reached the socket")
		}
	}
	if !pending(lateConn{conn}) {
		t.Fatal("516 bytes wait in the socket, and pending did not see them")
	}
}
