package transporttest

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// testDialContext checks that Dial gives up when its context ends, whatever stage the
// dial is at, and reports the context's error so a caller racing bridges can tell
// "cancelled because another won" from "this bridge failed".
func (s *suite) testDialContext(t *testing.T) {
	t.Run("already cancelled", func(t *testing.T) {
		e := s.begin(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		c, err := e.d.Dial(ctx)
		if c != nil {
			c.Close()
			t.Fatal("Dial with a cancelled context returned a conn")
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial with a cancelled context: got error %v, want one that errors.Is %v", err, context.Canceled)
		}
	})

	type peer struct {
		name  string
		start func(t *testing.T) string // returns the silent peer's address
	}
	var peers []peer
	switch s.network() {
	case "tcp":
		peers = append(peers, peer{"connect stalls", stalledListener})
		if !s.opts.NoHandshake {
			peers = append(peers, peer{"peer silent after connect", silentTCPListener})
		}
	case "udp":
		peers = append(peers, peer{"peer silent", silentUDPSocket})
	default:
		t.Fatalf("Options.Network is %q; want tcp or udp", s.opts.Network)
	}
	for _, p := range peers {
		t.Run(p.name+"/cancel", func(t *testing.T) {
			checkLeaks(t)
			d := s.dialerTo(t, p.start(t))
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(50*time.Millisecond, cancel) // let the dial get going; the check holds either way
			s.wantDialFails(t, d, ctx, context.Canceled)
		})
		t.Run(p.name+"/deadline", func(t *testing.T) {
			checkLeaks(t)
			d := s.dialerTo(t, p.start(t))
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			s.wantDialFails(t, d, ctx, context.DeadlineExceeded)
		})
	}
}

func (s *suite) network() string {
	if s.opts.Network == "" {
		return "tcp"
	}
	return s.opts.Network
}

func (s *suite) dialerTo(t *testing.T, addr string) transports.Dialer {
	t.Helper()
	if s.opts.DialerTo == nil {
		t.Fatal("Options.DialerTo is nil: the suite needs it to check that Dial honours its context")
	}
	d := s.opts.DialerTo(t, addr)
	if d == nil {
		t.Fatalf("Options.DialerTo(%q) returned nil", addr)
	}
	return d
}

// wantDialFails dials a silent peer with ctx, which will end, and wants an error that
// is want (context.Canceled or context.DeadlineExceeded).
func (s *suite) wantDialFails(t *testing.T, d transports.Dialer, ctx context.Context, want error) {
	t.Helper()
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := d.Dial(ctx)
		done <- result{c, err}
	}()
	r := wait(t, done, "Dial whose context ended")
	if r.conn != nil {
		r.conn.Close()
		hint := ""
		if s.network() == "tcp" && !s.opts.NoHandshake {
			hint = " (set Options.NoHandshake if Dial is done once TCP connects)"
		}
		t.Fatalf("Dial whose context ended returned a conn to a peer that never answers%s", hint)
	}
	if !errors.Is(r.err, want) {
		t.Fatalf("Dial whose context ended: got error %v, want one that errors.Is %v", r.err, want)
	}
}

// silentTCPListener starts a loopback listener that accepts and then says nothing, as
// a blackholing censor or a wrong server would; a transport's handshake stalls on it.
func silentTCPListener(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("silent peer: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// silentUDPSocket starts a loopback UDP socket that reads and drops every datagram.
func silentUDPSocket(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("silent peer: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}
