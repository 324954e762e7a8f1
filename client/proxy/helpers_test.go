package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// hangGuard only keeps a broken test from hanging; nothing asserts on it.
const hangGuard = 10 * time.Second

// echoBackend is a TCP echo service on loopback standing in for a stream through the
// gateway: it echoes until EOF, then half-closes, as a well-behaved backend does.
type echoBackend struct {
	addr   string
	ended  chan struct{} // one value per finished backend connection
	mu     sync.Mutex
	dialed []string // services asked for, in order
}

func newEchoBackend(t *testing.T) *echoBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for echo backend: %v", err)
	}
	b := &echoBackend{addr: ln.Addr().String(), ended: make(chan struct{}, 1024)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer func() { b.ended <- struct{}{} }()
				defer c.Close()
				if _, err := io.Copy(c, c); err == nil {
					c.(*net.TCPConn).CloseWrite()
					io.Copy(io.Discard, c) // wait for the proxy to close
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return b
}

// Dial is a DialFunc reaching the echo backend whatever the service.
func (b *echoBackend) Dial(ctx context.Context, service string) (net.Conn, error) {
	b.mu.Lock()
	b.dialed = append(b.dialed, service)
	b.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, "tcp", b.addr)
}

func (b *echoBackend) Dialed() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialed...)
}

// waitEnded waits for n backend connections to finish.
func (b *echoBackend) waitEnded(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-b.ended:
		case <-time.After(hangGuard):
			t.Fatalf("backend connection %d of %d still open", i+1, n)
		}
	}
}

// serve runs s on a fresh loopback listener until the test ends (or stop is called),
// and checks that Serve returned nil for a cancelled context.
func serve(t *testing.T, s *Server) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve after cancel = %v, want nil", err)
				}
			case <-time.After(hangGuard):
				t.Fatalf("Serve did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

func dialApp(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("app dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(hangGuard))
	return c.(*net.TCPConn)
}

func mustWrite(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatalf("app write %x: %v", b, err)
	}
}

func mustRead(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("app read %d bytes: %v (got %x)", n, err, b)
	}
	return b
}

// expectClosed checks the proxy hung up: the app reads EOF (or a reset), not a timeout.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("proxy kept the connection open (read %q)", b)
	}
	if len(b) > 0 {
		t.Fatalf("after the answer, read %q, want the connection closed", b)
	}
}

// expectEcho checks that a round trip through the proxied stream works.
func expectEcho(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	mustWrite(t, c, []byte(msg))
	if got := string(mustRead(t, c, len(msg))); got != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// checkNoLeaks fails the test if goroutines of this package or of the relay outlive it.
// Call it first so that its cleanup runs last.
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(hangGuard)
		for {
			leaked := leakedGoroutines()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("goroutines left running:\n%s", strings.Join(leaked, "\n\n"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || strings.Contains(g, "testing.tRunner") { // the tests themselves
			continue
		}
		if strings.Contains(g, "edge/client/proxy.") || strings.Contains(g, "edge/internal/relay.") {
			leaked = append(leaked, g)
		}
	}
	return leaked
}
