package client_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
	"github.com/umbrella-edge/edge/transports/utls"
)

// hangTimeout bounds waits that only prevent a broken test from hanging.
const hangTimeout = 20 * time.Second

// startGateway runs a gateway in front of an echo service with one listener per
// transport given ("tcp", "utls") and returns their bridge lines in that order.
func startGateway(t *testing.T, names ...string) []bridge.Line {
	t.Helper()
	return startGatewayWith(t, 0, names...)
}

// startGatewayWith is startGateway with the gateway's resume grace period.
func startGatewayWith(t *testing.T, grace time.Duration, names ...string) []bridge.Line {
	t.Helper()
	return startLabGateway(t, grace, names...).Bridges()
}

// startLabGateway is startGatewayWith returning the gateway itself.
func startLabGateway(t *testing.T, grace time.Duration, names ...string) *lab.Gateway {
	t.Helper()
	opts := []lab.GatewayOption{func(c *gateway.Config) { c.ResumeGrace = grace }}
	for _, n := range names {
		if n == "utls" {
			opts = append(opts, lab.WithListener(utls.New(nil), "127.0.0.1:0", "", transports.Args{"servername": "www.example.com"}))
		} else {
			opts = append(opts, lab.WithListener(tcp.New(), "127.0.0.1:0", "", nil))
		}
	}
	return lab.StartGateway(t, opts...)
}

func registry(t *testing.T) *transports.Registry {
	r, err := transports.NewRegistry(tcp.New(), utls.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// refusedBridge is a bridge line like good whose address refuses connections.
func refusedBridge(t *testing.T, good bridge.Line) bridge.Line {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := good
	b.Addr = ln.Addr().String()
	ln.Close()
	return b
}

// silent is a listener that accepts connections and never answers, as a censor that
// drops a bridge's packets looks to a client after the TCP handshake.
type silent struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	closed chan struct{} // receives once per connection closed
}

// silentBridge is a bridge line like good whose address accepts and never answers.
func silentBridge(t *testing.T, good bridge.Line) (bridge.Line, *silent) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silent{ln: ln, closed: make(chan struct{}, 64)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			wg.Go(func() {
				io.Copy(io.Discard, c) // until the client closes it
				c.Close()
				s.closed <- struct{}{}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	b := good
	b.Addr = ln.Addr().String()
	return b, s
}

// waitClosed waits until the client has closed n of the silent bridge's connections.
func (s *silent) waitClosed(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.closed:
		case <-time.After(hangTimeout):
			t.Fatalf("the client did not close its connection to a losing bridge")
		}
	}
}

// recorder keeps the client's events.
type recorder struct {
	mu     sync.Mutex
	events []client.Event
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) on(e client.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *recorder) all() []client.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.Event(nil), r.events...)
}

// waitFor waits for an event of kind and returns it.
func (r *recorder) waitFor(t *testing.T, kind client.EventKind) client.Event {
	t.Helper()
	deadline := time.After(hangTimeout)
	for seen := 0; ; {
		evs := r.all()
		for _, e := range evs[seen:] {
			if e.Kind == kind {
				return e
			}
		}
		seen = len(evs)
		select {
		case <-r.signal:
		case <-deadline:
			t.Fatalf("no %v event; events: %s", kind, describe(evs))
			return client.Event{}
		}
	}
}

// describe prints events as "attempt 0, failed 0, …".
func describe(evs []client.Event) string {
	parts := make([]string, len(evs))
	for i, e := range evs {
		parts[i] = e.Kind.String()
		if e.Bridge >= 0 {
			parts[i] = fmt.Sprintf("%v %d", e.Kind, e.Bridge)
		}
	}
	return strings.Join(parts, ", ")
}

// echo writes data through a stream of the echo service and checks it comes back.
func echo(t *testing.T, c *client.Client, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	conn, err := c.Dial(ctx, "echo")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	go conn.Write(data)
	got := make([]byte, len(data))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != string(data) {
		t.Fatalf("echo of %d bytes: %v", len(data), err)
	}
}

// checkLeaks fails t if goroutines or file descriptors opened during t remain once it
// and its cleanups are done. Closing takes a moment to be noticed, so it polls.
func checkLeaks(t *testing.T) {
	g0, fd0 := runtime.NumGoroutine(), openFDs()
	t.Cleanup(func() {
		deadline := time.Now().Add(hangTimeout)
		for {
			g, fd := runtime.NumGoroutine(), openFDs()
			if g <= g0 && fd <= fd0 {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("after the test: %d goroutines (before: %d), %d fds (before: %d)\n%s",
					g, g0, fd, fd0, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}
