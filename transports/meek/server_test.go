package meek

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// hang only keeps a broken server from hanging a test; nothing is timed by it.
const hang = 30 * time.Second

// plainListener starts a tls=false listener on loopback, as behind nginx.
func plainListener(t *testing.T, extra transports.Args) *listener {
	t.Helper()
	args := transports.Args{"tls": "false", "servername": "front.example", "path": "/m"}
	for k, v := range extra {
		args[k] = v
	}
	l, err := listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// post sends one meek request on a new connection and returns the response and its body.
func post(t *testing.T, l *listener, id string, window int, e end, body string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", l.Addr().String(), hang)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hang))
	req := fmt.Sprintf("POST /m HTTP/1.1\r\nHost: meek.example\r\n%s: %s\r\n%s: %d\r\n", hdrSessionID, id, hdrWindow, window)
	if e != endNone {
		req += fmt.Sprintf("%s: %s\r\n", hdrEnd, e)
	}
	req += fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to a meek POST: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func accept(t *testing.T, l *listener) net.Conn {
	t.Helper()
	got := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
		got <- c
	}()
	select {
	case c := <-got:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(hang):
		t.Fatal("Accept returned nothing")
		return nil
	}
}

// open starts a session the way a client does and has the gateway's side speak, so
// the session's answers are 200s from then on.
func open(t *testing.T, l *listener, id string) net.Conn {
	t.Helper()
	if resp, _ := post(t, l, id, queueSize, endNone, ""); resp.StatusCode == http.StatusOK {
		t.Fatalf("the opening request of a session got %s; want the website's answer", resp.Status)
	}
	c := accept(t, l)
	c.Write([]byte("hello"))
	if resp, body := post(t, l, id, queueSize, endNone, ""); resp.StatusCode != http.StatusOK || body != "hello" {
		t.Fatalf("a poll after the gateway wrote got %s %q; want 200 and its bytes", resp.Status, body)
	}
	return c
}

func TestSessionExpiresWithoutRequests(t *testing.T) {
	l := plainListener(t, nil)
	l.expiry = 50 * time.Millisecond // short, so the test need not wait 120 s
	c := open(t, l, "expiring-session")
	c.SetReadDeadline(time.Now().Add(hang))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrExpired) {
		t.Fatalf("Read on a session whose client went silent: %v, want ErrExpired", err)
	}
	if resp, _ := post(t, l, "expiring-session", queueSize, endNone, ""); resp.StatusCode == http.StatusOK {
		t.Fatalf("a request of the expired session got %s; want the website's answer", resp.Status)
	}
}

func TestSessionLimit(t *testing.T) {
	l := plainListener(t, transports.Args{"max-sessions": "1"})
	first := open(t, l, "the-first-session")
	post(t, l, "the-second-session", queueSize, endNone, "")
	if resp, _ := post(t, l, "the-first-session", queueSize, endNone, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("the first session's poll got %s once a second was refused; want 200", resp.Status)
	}
	first.Write([]byte("still here"))
	if _, body := post(t, l, "the-first-session", queueSize, endNone, ""); body != "still here" {
		t.Fatalf("the first session's poll got %q, want what its gateway side wrote", body)
	}
	select {
	case c := <-l.accepted:
		t.Fatalf("a session beyond max-sessions=1 was queued for Accept: %v", c.RemoteAddr())
	default:
	}
}

func TestWindowsBoundTheBuffers(t *testing.T) {
	l := plainListener(t, nil)
	c := open(t, l, "a-window-session")

	// The gateway side writes more than a client's window: the response carries
	// only what the window allows, and Write blocks once the queue is full.
	written := make(chan int, 1)
	go func() {
		// Only ends the blocked Write; the check is how much it wrote.
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, _ := c.Write(make([]byte, 2*queueSize))
		written <- n
	}()
	if resp, body := post(t, l, "a-window-session", 1000, endNone, ""); resp.StatusCode != http.StatusOK || len(body) != 1000 {
		t.Fatalf("a poll with a window of 1000 got %s with %d bytes", resp.Status, len(body))
	}
	if n := <-written; n >= 2*queueSize {
		t.Fatalf("Write of %d bytes went through while the client took only 1000", n)
	}

	// A client that sends more than the server's window breaks the protocol: the
	// session ends and the request gets the website.
	resp, _ := post(t, l, "a-window-session", queueSize, endNone, "")
	window, err := parseWindow(resp.Header.Get(hdrWindow))
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(hang))
	for range queueSize / maxRequestBody { // fill the server's queue; nobody reads it
		post(t, l, "a-window-session", 0, endNone, string(make([]byte, min(window, maxRequestBody))))
	}
	if resp, _ := post(t, l, "a-window-session", 0, endNone, "one byte too many"); resp.StatusCode == http.StatusOK {
		t.Fatalf("a request beyond the window got %s; want the website's answer", resp.Status)
	}
	var err2 error
	for err2 == nil {
		_, err2 = c.Read(make([]byte, 64<<10))
	}
	if !errors.Is(err2, ErrProtocol) {
		t.Fatalf("Read after the client overran the window: %v, want ErrProtocol", err2)
	}
}

// A draining gateway closes the peers it has not answered instead of rejecting them;
// they must still get the website, not a meek answer.
func TestDrainingListenerAnswersUnansweredPeersWithTheSite(t *testing.T) {
	l := plainListener(t, nil)
	post(t, l, "a-judged-session", queueSize, endNone, "")
	c := accept(t, l)
	answered := make(chan int, 1)
	go func() {
		resp, _ := post(t, l, "a-judged-session", queueSize, endNone, "a hello being judged")
		answered <- resp.StatusCode
	}()
	got := make([]byte, len("a hello being judged"))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	l.Close()
	c.Close()
	if code := <-answered; code == http.StatusOK {
		t.Fatal("the held request of a session closed unanswered by a draining gateway got 200; want the website's answer")
	}
}
