package transporttest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// testListener checks the listener behaviour the gateway's accept loop and drain rely
// on.
func (s *suite) testListener(t *testing.T) {
	t.Run("Close unblocks Accept", func(t *testing.T) {
		e := s.begin(t)
		accepted := async(func() error {
			c, err := e.ln.Accept()
			if c != nil {
				c.Close()
			}
			return err
		})
		time.Sleep(20 * time.Millisecond) // let Accept block; the check holds either way
		if err := e.ln.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wantErrClosed(t, "Accept blocked when the listener closed", wait(t, accepted, "Accept after Close"))
	})
	t.Run("Accept after Close fails", func(t *testing.T) {
		e := s.begin(t)
		e.ln.Close()
		accepted := async(func() error {
			c, err := e.ln.Accept()
			if c != nil {
				c.Close()
			}
			return err
		})
		wantErrClosed(t, "Accept on a closed listener", wait(t, accepted, "Accept after Close"))
	})
	t.Run("accepted conns outlive listener Close", func(t *testing.T) {
		// The gateway closes its listeners, then drains the sessions already running.
		e := s.begin(t)
		client, server := e.connect()
		if err := e.ln.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		sendAndCheck(t, "client→server after listener Close", client, server, randomBytes(10_000))
		sendAndCheck(t, "server→client after listener Close", server, client, randomBytes(10_000))
	})
	t.Run("Addr and BridgeArgs", func(t *testing.T) {
		e := s.begin(t)
		if e.ln.Addr() == nil {
			t.Error("Addr returned nil")
		}
		if e.ln.BridgeArgs() == nil {
			t.Error("BridgeArgs returned nil; want an empty Args when the client needs none")
		}
		client, server := e.connect()
		for what, a := range map[string]net.Addr{
			"client LocalAddr": client.LocalAddr(), "client RemoteAddr": client.RemoteAddr(),
			"server LocalAddr": server.LocalAddr(), "server RemoteAddr": server.RemoteAddr(),
		} {
			if a == nil {
				t.Errorf("%s returned nil", what)
			}
		}
	})
	if s.network() == "tcp" {
		t.Run("silent and garbage clients do not block Accept", s.testBadClients)
	}
}

func wantErrClosed(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("%s: got %v, want an error that errors.Is net.ErrClosed (the gateway's accept loop stops on it)", what, err)
	}
}

// testBadClients connects raw TCP clients that say nothing or send noise, as probers
// do, then checks that a real client still gets through: a listener must not wait for
// one peer's handshake before accepting the next. Accept may return the bad conns too
// (transports that leave authentication to the session do), so the real client sends a
// marker the test looks for.
func (s *suite) testBadClients(t *testing.T) {
	e := s.begin(t)
	addr := e.ln.Addr().String()
	for _, noise := range [][]byte{nil, randomBytes(1000), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")} {
		c, err := net.DialTimeout("tcp", addr, hangTimeout)
		if err != nil {
			t.Fatalf("raw TCP connect to the listener: %v", err)
		}
		e.track(c)
		if _, err := c.Write(noise); err != nil {
			t.Fatalf("raw TCP write to the listener: %v", err)
		}
	}

	marker := randomBytes(64)
	found := make(chan struct{})
	go func() {
		for {
			c, err := e.ln.Accept()
			if err != nil {
				return
			}
			e.track(c)
			go func() {
				got := make([]byte, len(marker))
				if _, err := io.ReadFull(c, got); err == nil && bytes.Equal(got, marker) {
					close(found)
				}
			}()
		}
	}()
	client := e.dial()
	if _, err := client.Write(marker); err != nil {
		t.Fatalf("Write: %v", err)
	}
	wait(t, found, "Accept of a real client after bad ones")
}
