package decoy

import (
	"bufio"
	"io"
	"net"
	"net/http"
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
	waitDone(t, done)
}
