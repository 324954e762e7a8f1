package webtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/relay"
	"github.com/umbrella-edge/edge/transports"
)

// hangGuard only keeps a probe of a broken server from hanging the test.
const hangGuard = 30 * time.Second

// Reply is what a prober got back for one probe, minus what differs between two runs
// of the same server (the Date).
type Reply struct {
	// Status is the response's status line, or "" when no HTTP response came.
	Status string
	// Header lists the response's fields in order as "Name: value", Date's value
	// left out.
	Header []string
	Body   string
	// Other counts the bytes received that were not an HTTP response (TLS records).
	Other int
	// HeldOpen is true when the server had answered and was done (Connection: close,
	// or an answer that is not HTTP) but kept the connection open past closeWait:
	// nginx sends its FIN with such an answer, so a prober would see the difference.
	HeldOpen bool
}

// closeWait draws the line between a close that comes with the answer and one held
// back; nginx's only hold after an answer is its 5 s lingering_timeout. It is no
// measure of speed.
const closeWait = 3 * time.Second

func (r Reply) String() string {
	if r.Status == "" {
		return fmt.Sprintf("no HTTP response (%d other bytes)", r.Other)
	}
	held := ""
	if r.HeldOpen {
		held = fmt.Sprintf("\n(the connection stayed open past %v)", closeWait)
	}
	return fmt.Sprintf("%s\n%s\n\n%.200q%s", r.Status, strings.Join(r.Header, "\n"), r.Body, held)
}

// Probe sends request over TLS to addr with serverName as SNI, offering only
// http/1.1 as curl --http1.1 does, and reads one response.
func Probe(t testing.TB, addr, serverName, request string) Reply {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, hangGuard)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(hangGuard))
	c := tls.Client(raw, &tls.Config{ServerName: serverName, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err := c.Handshake(); err != nil {
		t.Fatalf("TLS handshake with %s as %s: %v", addr, serverName, err)
	}
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(request, " ")
	return readReply(t, c, method)
}

// ProbeRaw sends payload on a bare TCP connection to addr and reads what comes back
// until the server closes.
func ProbeRaw(t testing.TB, addr string, payload []byte) Reply {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hangGuard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard))
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	return readReply(t, c, http.MethodGet)
}

// ClosedAfterAnswer sends payload on a bare TCP connection to addr, reads what comes
// back until the server's FIN, then writes more, as a prober does to tell a closed
// socket from a lingering close: true when those bytes meet a reset (the server had
// closed its socket), false when they are taken in silence for closeWait.
func ClosedAfterAnswer(t testing.TB, addr string, payload []byte) bool {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hangGuard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard))
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("waiting for the server's FIN: %v", err)
	}
	// A write to a closed socket succeeds locally and draws the reset that fails a
	// later one; the pause between them only gives the reset its round trip.
	for deadline := time.Now().Add(closeWait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := c.Write([]byte("x")); err != nil {
			return true
		}
	}
	return false
}

// readReply reads one HTTP response to a request with method from c, or counts what
// else came until c closed.
func readReply(t testing.TB, c net.Conn, method string) Reply {
	t.Helper()
	br := bufio.NewReader(c)
	if start, _ := br.Peek(5); string(start) != "HTTP/" {
		if br.Buffered() == 0 {
			n, err := io.Copy(io.Discard, br)
			if isTimeout(err) {
				t.Fatalf("server neither answered nor closed within %v", hangGuard)
			}
			return Reply{Other: int(n)}
		}
		c.SetReadDeadline(time.Now().Add(closeWait))
		n, err := io.Copy(io.Discard, br)
		return Reply{Other: int(n), HeldOpen: isTimeout(err)}
	}
	var head bytes.Buffer
	resp, err := http.ReadResponse(bufio.NewReader(io.TeeReader(br, &head)), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading an HTTP response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	r := Reply{Body: string(body)}
	if resp.Close {
		c.SetReadDeadline(time.Now().Add(closeWait))
		_, err := io.Copy(io.Discard, br)
		r.HeldOpen = isTimeout(err)
	}
	for i, line := range strings.Split(strings.SplitN(head.String(), "\r\n\r\n", 2)[0], "\r\n") {
		switch {
		case i == 0:
			r.Status = line
		case strings.HasPrefix(line, "Date: "):
			r.Header = append(r.Header, "Date:")
		default:
			r.Header = append(r.Header, line)
		}
	}
	return r
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Same reports whether two replies look alike to a prober: the same HTTP response
// (status, fields in order, body), or no HTTP response from either (the TLS alerts of
// Go and OpenSSL may differ in their bytes); and either both close with their last
// answer or neither does.
func Same(a, b Reply) bool {
	return a.Status == b.Status && a.Body == b.Body && slices.Equal(a.Header, b.Header) && a.HeldOpen == b.HeldOpen
}

// RandomBytes returns n random bytes that do not start a TLS handshake record; with
// high set the first byte has its high bit set (nginx then tries TLS anyway, as for an
// SSLv2 hello), else clear (nginx reads the bytes as HTTP). With high set the third
// byte is never 1, the type of an SSLv2 ClientHello: OpenSSL would wait for the rest
// of a record whose length the first two bytes give, up to nginx's 60 s timeout, and
// that wait has its own probes (probetest.CompareWaits). They end in a newline:
// nginx rejects a bad request line at its first bad byte, while the decoy package
// (net/http's parser) waits for the line's end, and bytes without one would show that
// difference instead of the transport's.
func RandomBytes(n int, high bool) []byte {
	b := make([]byte, n)
	rand.Read(b)
	b[n-1] = '\n'
	if high {
		b[0] |= 0x80
		if b[2] == 1 {
			b[2] = 2
		}
	} else {
		b[0] = 'a' + b[0]%26 // neither 0x16 nor a method nginx knows
	}
	return b
}

// Recorder is a TCP relay in front of a server that keeps what clients sent through
// it, so a test can replay a real client's first flight as a censor would.
type Recorder struct {
	Addr string
	// Done is closed when the first client has closed its side.
	Done     chan struct{}
	doneOnce sync.Once
	mu       sync.Mutex
	sent     []byte
}

// Record starts a relay to target on loopback; it stops when the test ends.
func Record(t testing.TB, target string) *Recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Recorder{Addr: ln.Addr().String(), Done: make(chan struct{})}
	var wg sync.WaitGroup
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		r.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			conns = append(conns, c, up)
			r.mu.Unlock()
			wg.Go(func() { relay.Splice(&recordingConn{Conn: c, r: r}, up, nil, nil) })
		}
	})
	return r
}

// Sent returns the bytes clients sent so far.
func (r *Recorder) Sent() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.sent)
}

type recordingConn struct {
	net.Conn
	r *Recorder
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.mu.Lock()
	c.r.sent = append(c.r.sent, p[:n]...)
	c.r.mu.Unlock()
	if err != nil {
		c.r.doneOnce.Do(func() { close(c.r.Done) })
	}
	return n, err
}

// FirstFlight dials addr through a Recorder as a real client (dialerTo builds the
// client for an address), sends a first message, closes, and returns every byte the
// client sent, for a test to replay as a censor would. a must be counting addr's
// listener: the real client is accepted there once.
func FirstFlight(t *testing.T, addr string, dialerTo func(*testing.T, string) transports.Dialer, a *AcceptCounter) []byte {
	t.Helper()
	before := a.Count()
	rec := Record(t, addr)
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	defer cancel()
	c, err := dialerTo(t, rec.Addr).Dial(ctx)
	if err != nil {
		t.Fatalf("dialing through the recorder: %v", err)
	}
	c.Write([]byte("the session's first message"))
	c.Close()
	a.WaitFor(t, before+1)
	select {
	case <-rec.Done:
	case <-time.After(hangGuard):
		t.Fatal("the client did not close its connection")
	}
	return rec.Sent()
}
