package censor

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// hangGuard bounds every wait in these tests; it only prevents hangs.
const hangGuard = 20 * time.Second

// startCensor runs a censor over routes (listen addresses default to 127.0.0.1:0)
// and closes it when the test ends.
func startCensor(t *testing.T, routes []Route, ps ...Policy) *Censor {
	t.Helper()
	for i := range routes {
		if routes[i].Listen == "" {
			routes[i].Listen = "127.0.0.1:0"
		}
	}
	c, err := New(Config{Routes: routes, Policies: ps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(context.Background())
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return c
}

func listenAddr(t *testing.T, c *Censor, route string) string {
	t.Helper()
	r, ok := c.Route(route)
	if !ok {
		t.Fatalf("no route %q", route)
	}
	return r.Listen
}

// startServer runs handle for each connection to a TCP listener on ip.
func startServer(t *testing.T, ip string, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(hangGuard))
				handle(conn)
			})
		}
	})
	return ln.Addr().String()
}

func echo(conn net.Conn) { io.Copy(conn, conn) }

// recorder is a server that keeps what each connection sent.
type recorder struct {
	mu   sync.Mutex
	got  [][]byte
	seen chan []byte
}

func startRecorder(t *testing.T, ip string) (*recorder, string) {
	r := &recorder{seen: make(chan []byte, 16)}
	addr := startServer(t, ip, func(conn net.Conn) {
		b, _ := io.ReadAll(conn)
		r.mu.Lock()
		r.got = append(r.got, b)
		r.mu.Unlock()
		r.seen <- b
	})
	return r, addr
}

func (r *recorder) connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, hangGuard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(hangGuard))
	return conn.(*net.TCPConn)
}

// waitDecision polls the censor's decisions until one matches.
func waitDecision(t *testing.T, c *Censor, match func(Decision) bool) Decision {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		for _, d := range c.Decisions() {
			if match(d) {
				return d
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no matching decision; the censor made: %v", c.Decisions())
	return Decision{}
}

func by(policy string, v Verdict) func(Decision) bool {
	return func(d Decision) bool { return d.Policy == policy && d.Verdict == v }
}

// expectSilence checks that nothing, not even a FIN or RST, arrives on conn for a
// moment: a silent drop keeps the connection open.
func expectSilence(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := conn.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after a silent drop = %d bytes, %v; want nothing until the deadline", n, err)
	}
	conn.SetReadDeadline(time.Now().Add(hangGuard))
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// captureHello returns the ClientHello records a client sent to a listener that
// reads one and hangs up.
func captureHello(t *testing.T, handshake func(net.Conn) error) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	addr := startServer(t, "127.0.0.1", func(conn net.Conn) {
		var buf []byte
		b := make([]byte, 4096)
		for {
			n, err := conn.Read(b)
			buf = append(buf, b[:n]...)
			if h, herr := tlskit.ParseClientHello(buf); herr == nil && h.Complete || err != nil {
				break
			}
		}
		got <- buf
	})
	conn := dial(t, addr)
	handshake(conn) // fails: the listener hangs up
	return <-got
}

func goHello(t *testing.T, serverName string) []byte {
	return captureHello(t, func(c net.Conn) error {
		return tls.Client(c, &tls.Config{ServerName: serverName}).Handshake()
	})
}

func utlsHello(t *testing.T, fp, serverName string) []byte {
	tc, err := tlskit.NewClient(serverName, transports.Args{"fp": fp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return captureHello(t, func(c net.Conn) error {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		_, _, err := tc.Handshake(ctx, c)
		return err
	})
}

func capturedHello(t testing.TB, name string) []byte {
	b, err := os.ReadFile("../../transports/tlskit/hellos/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
