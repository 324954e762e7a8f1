package gateway_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/session"
)

// hangTimeout only stops a broken test from hanging.
const hangTimeout = 30 * time.Second

// carrier dials the fixture's tcp listener, as the tcp transport does.
func (f *fixture) carrier(t *testing.T) net.Conn {
	t.Helper()
	addr := f.addr
	if addr == "" {
		addr = f.bridge.Addr
	}
	c, err := net.DialTimeout("tcp", addr, hangTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// session opens a session to the gateway without the client package, so the test
// decides when carriers die and when to resume.
func (f *fixture) session(t *testing.T) (*session.Session, net.Conn, *session.ClientConfig) {
	t.Helper()
	cc := &session.ClientConfig{GatewayKey: f.bridge.Key, Secret: f.bridge.Secret, Endpoint: f.bridge.Endpoint()}
	conn := f.carrier(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	s, err := session.Client(ctx, conn, cc)
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, conn, cc
}

func (f *fixture) resume(t *testing.T, s *session.Session, cc *session.ClientConfig) error {
	t.Helper()
	conn := f.carrier(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	err := s.Resume(ctx, conn, cc)
	if err != nil {
		conn.Close()
	}
	return err
}

// waitMetric polls /metrics until it has the line; the timeout only stops a hang.
func (f *fixture) waitMetric(t *testing.T, line string) {
	t.Helper()
	deadline := time.Now().Add(hangTimeout)
	for !strings.Contains(f.metrics(t), line+"\n") {
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %q:\n%s", line, grep(f.metrics(t), "umbrella_gateway"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countingBackend echoes, and counts the connections the gateway makes to it.
func countingBackend(t *testing.T) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go backend.EchoConn(c)
		}
	}()
	return ln.Addr().String(), conns
}

func echo(t *testing.T, conn net.Conn, msg string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(hangTimeout))
	defer conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: got %q, %v", msg, got, err)
	}
}

// TestResumeKeepsStreamsAndBackendConnections: while the client's carrier is gone,
// the gateway keeps the session and its backend connection; the resumed stream is
// the same one, on the same backend connection.
func TestResumeKeepsStreamsAndBackendConnections(t *testing.T) {
	addr, conns := countingBackend(t)
	f := newFixture(t, func(c *gateway.Config) { c.Services["counted"] = addr })
	s, carrier, cc := f.session(t)
	conn, err := s.OpenStream(context.Background(), "counted")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, "before")

	carrier.Close()
	f.waitMetric(t, "umbrella_gateway_detached_sessions 1")
	if err := f.resume(t, s, cc); err != nil {
		t.Fatalf("resume: %v", err)
	}
	echo(t, conn, "after the resume")
	f.waitMetric(t, `umbrella_gateway_resumes_total{result="ok"} 1`)
	f.waitMetric(t, "umbrella_gateway_detached_sessions 0")
	if n := conns.Load(); n != 1 {
		t.Errorf("the gateway made %d backend connections for one stream, want 1", n)
	}
}

// TestResumeAfterGraceIsRejected: after the grace period the gateway has closed the
// session and its backend connection, and tells a late resume so.
func TestResumeAfterGraceIsRejected(t *testing.T) {
	quiet, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	held := make(chan net.Conn, 1)
	go func() {
		if c, err := quiet.Accept(); err == nil {
			held <- c
		}
	}()
	f := newFixture(t, func(c *gateway.Config) {
		c.Services["quiet"] = quiet.Addr().String()
		c.ResumeGrace = 50 * time.Millisecond
	})
	s, carrier, cc := f.session(t)
	conn, err := s.OpenStream(context.Background(), "quiet")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	backendSide := <-held
	defer backendSide.Close()

	carrier.Close()
	backendSide.SetReadDeadline(time.Now().Add(hangTimeout))
	if _, err := backendSide.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("backend connection of a session past its grace period not closed: %v", err)
	}
	if err := f.resume(t, s, cc); !errors.Is(err, session.ErrResumeRejected) {
		t.Fatalf("late resume: %v, want ErrResumeRejected", err)
	}
	select {
	case <-s.Done():
	default:
		t.Error("the client session lives on after its resume was rejected")
	}
	f.waitMetric(t, `umbrella_gateway_resumes_total{result="rejected"} 1`)
}

// TestDrainEndsDetachedSessions: a gateway shutting down does not wait out the grace
// period of sessions that have no carrier.
func TestDrainEndsDetachedSessions(t *testing.T) {
	f := newFixture(t, func(c *gateway.Config) {
		c.ResumeGrace = time.Hour
		c.DrainTimeout = time.Hour
	})
	s, carrier, _ := f.session(t)
	conn, err := s.OpenStream(context.Background(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	carrier.Close()
	f.waitMetric(t, "umbrella_gateway_detached_sessions 1")
	select {
	case <-f.g.Drain():
	case <-time.After(hangTimeout):
		t.Fatal("Serve still waiting on a detached session")
	}
}
