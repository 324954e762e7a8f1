package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
	"github.com/umbrella-edge/edge/transports/utls"
)

// censoredTCP is the tcp transport with every carrier cut after limit bytes from the
// gateway: frozen (what follows is swallowed and the socket stays open, as Russia's
// censor does after the first 14–20 KB) or closed.
type censoredTCP struct {
	transports.Transport
	limit  int
	freeze bool
	// blockAfter, if set, makes every dial fail once a carrier has been cut.
	blockAfter *atomic.Bool
}

func (c censoredTCP) NewDialer(addr string, args transports.Args) (transports.Dialer, error) {
	d, err := c.Transport.NewDialer(addr, args)
	return censoredDialer{d, c}, err
}

type censoredDialer struct {
	transports.Dialer
	censor censoredTCP
}

func (d censoredDialer) Dial(ctx context.Context) (net.Conn, error) {
	if b := d.censor.blockAfter; b != nil && b.Load() {
		return nil, errors.New("blocked by the test's censor")
	}
	conn, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return &censoredConn{Conn: conn, left: d.censor.limit, censor: d.censor}, nil
}

type censoredConn struct {
	net.Conn
	censor censoredTCP
	mu     sync.Mutex
	left   int
}

func (c *censoredConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		c.mu.Lock()
		pass := min(n, c.left)
		c.left -= pass
		cut := c.left == 0
		c.mu.Unlock()
		if cut && c.censor.blockAfter != nil {
			c.censor.blockAfter.Store(true)
		}
		if pass > 0 || err != nil {
			return pass, err
		}
		if cut && !c.censor.freeze {
			c.Conn.Close()
			return 0, net.ErrClosed
		}
		// Frozen: swallow and wait for more, until the client gives up on the conn.
	}
}

// gatedTransport is a transport whose dials wait until open reports true.
type gatedTransport struct {
	transports.Transport
	open func() bool
}

func (g gatedTransport) NewDialer(addr string, args transports.Args) (transports.Dialer, error) {
	d, err := g.Transport.NewDialer(addr, args)
	return gatedDialer{d, g.open}, err
}

type gatedDialer struct {
	transports.Dialer
	open func() bool
}

func (d gatedDialer) Dial(ctx context.Context) (net.Conn, error) {
	for !d.open() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return d.Dialer.Dial(ctx)
}

// gatewayMetrics is what the gateway's /metrics shows now.
func gatewayMetrics(g *lab.Gateway) string {
	rec := httptest.NewRecorder()
	g.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// A transfer through the echo service goes on byte for byte when its carrier is cut,
// on the other transport: the app's connection never notices.
func TestFailoverKeepsTheTransferGoing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		censor censoredTCP
		cause  func(error) bool
	}{
		{"frozen after 16 KiB: the watchdog notices", censoredTCP{limit: 16 << 10, freeze: true},
			func(err error) bool { var se *client.StallError; return errors.As(err, &se) }},
		{"closed after 200 KiB", censoredTCP{limit: 200 << 10},
			func(err error) bool { var se *client.StallError; return !errors.As(err, &se) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			bridges := startGateway(t, "tcp", "utls")
			tc.censor.Transport = tcp.New()
			reg, err := transports.NewRegistry(tc.censor, utls.New(nil))
			if err != nil {
				t.Fatal(err)
			}
			rec := newRecorder()
			c, err := client.New(client.Config{Bridges: bridges, Transports: reg, OnEvent: rec.on,
				Network: func() string { return "test" }})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
			defer cancel()
			conn, err := c.Dial(ctx, "echo")
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute)) // against a hang, not a timing check
			data := make([]byte, 2<<20)
			rand.Read(data)
			go conn.Write(data)
			got := make([]byte, len(data))
			if _, err := io.ReadFull(conn, got); err != nil {
				t.Fatalf("reading the echo back: %v\nevents: %s", err, describe(rec.all()))
			}
			if sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("the echo differs from what was sent (first difference at %d)", firstDiff(got, data))
			}
			lost := rec.waitFor(t, client.EventLost)
			if lost.Name != "tcp" || !tc.cause(lost.Err) {
				t.Errorf("lost %s: %v; want tcp, for the expected cause", lost.Name, lost.Err)
			}
			resumed := rec.waitFor(t, client.EventResumed)
			if resumed.Name != "utls" {
				t.Errorf("resumed on %s, want utls (the transport that did not fail)", resumed.Name)
			}
			t.Logf("lost tcp (%v); resumed on %s in %v", lost.Err, resumed.Name, resumed.Took)
			if c.Active() != "utls" {
				t.Errorf("Active() = %q, want utls", c.Active())
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if !bytes.Equal(a, b) {
		return min(len(a), len(b))
	}
	return -1
}

// When the session cannot be resumed, the client says so, opens a new session on what
// works, and the app's stream fails rather than hang; the next Dial works.
func TestFailoverThatCannotResumeEndsTheSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		// gateways lists each gateway's transports; the client gets all bridge lines.
		gateways [][]string
		grace    time.Duration
		// gone makes the utls carrier wait until the first gateway has ended the tcp
		// carrier's session: a resume that won the race against the gateway noticing
		// the cut would find the session still there, and rightly resume it.
		gone bool
		why  error
	}{
		{"the gateway no longer has the session", [][]string{{"tcp", "utls"}}, time.Nanosecond, true,
			session.ErrResumeRejected},
		{"only another gateway is reachable", [][]string{{"tcp"}, {"utls"}}, 0, false,
			client.ErrGatewayChanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			var bridges []bridge.Line
			var first *lab.Gateway
			for _, names := range tc.gateways {
				g := startLabGateway(t, tc.grace, names...)
				if first == nil {
					first = g
				}
				bridges = append(bridges, g.Bridges()...)
			}
			censor := censoredTCP{Transport: tcp.New(), limit: 64 << 10, blockAfter: new(atomic.Bool)}
			sessionGone := func() bool {
				return !tc.gone || strings.Contains(gatewayMetrics(first), `umbrella_gateway_sessions{transport="tcp"} 0`+"\n")
			}
			gated := gatedTransport{Transport: utls.New(nil), open: sessionGone}
			reg, err := transports.NewRegistry(censor, gated)
			if err != nil {
				t.Fatal(err)
			}
			rec := newRecorder()
			c, err := client.New(client.Config{Bridges: bridges, Transports: reg, OnEvent: rec.on,
				Network: func() string { return "test" }})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
			defer cancel()
			conn, err := c.Dial(ctx, "echo")
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute)) // against a hang, not a timing check
			go conn.Write(make([]byte, 1<<20))
			if _, err := io.Copy(io.Discard, conn); err == nil {
				t.Error("the stream of an ended session read to a clean EOF; want an error")
			}
			ended := rec.waitFor(t, client.EventEnded)
			if !errors.Is(ended.Err, tc.why) {
				t.Errorf("session ended with %v, want %v", ended.Err, tc.why)
			}
			if active := rec.waitFor(t, client.EventActive); active.Name != "tcp" {
				// The first active event is the first session's.
				t.Errorf("first session on %s, want tcp", active.Name)
			}
			echo(t, c, []byte("after the new session"))
			if c.Active() != "utls" {
				t.Errorf("Active() = %q, want utls\nevents: %s", c.Active(), describe(rec.all()))
			}
		})
	}
}
