package obfs4

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// obfs4HandshakeTimeout is the reference implementation's serverHandshakeTimeout: a
// failed handshake is closed this long after the connect, plus the per-bridge delay.
const obfs4HandshakeTimeout = 30 * time.Second

// TestProbersSeeObfs4Silence sends what an active prober sends to the listener and
// wants what obfs4proxy shows: no byte back, and a close at the bridge's fixed time
// after the connect (30 s plus a delay drawn once per identity), whatever was sent.
// The state is chosen with a delay of 0 so the test lasts 30 s, not up to 90.
func TestProbersSeeObfs4Silence(t *testing.T) {
	t.Parallel()
	const closeDelay = 0
	dir := t.TempDir()
	writeState(t, dir, closeDelay)
	ln := listen(t, transports.ListenConfig{StateDir: dir})
	accepted := acceptAll(t, ln)

	// A real client's first flight, recorded on its way to the listener.
	rec := startRecorder(t, ln.Addr().String())
	d, err := New().NewDialer(rec.addr, ln.BridgeArgs())
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial(t.Context())
	if err != nil {
		t.Fatalf("a real client: %v", err)
	}
	c.Close()
	firstFlight := rec.upstream()
	if len(firstFlight) == 0 {
		t.Fatal("recorded no first flight")
	}

	junk := make([]byte, 1000)
	rand.Read(junk)
	bigJunk := make([]byte, 9000) // past obfs4's largest handshake: rejected at once
	rand.Read(bigJunk)
	probes := []struct {
		name  string
		probe []byte
	}{
		{"nothing", nil},
		{"random bytes", junk},
		{"more random bytes than a handshake", bigJunk},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")},
		{"replayed first flight", firstFlight},
	}
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Go(func() {
			got, closedAfter, err := probe(ln.Addr().String(), p.probe, obfs4HandshakeTimeout+90*time.Second)
			if err != nil {
				t.Errorf("%s: %v", p.name, err)
				return
			}
			if len(got) != 0 {
				t.Errorf("%s: the listener answered %d bytes", p.name, len(got))
			}
			if want := obfs4HandshakeTimeout + closeDelay*time.Second; closedAfter < want {
				t.Errorf("%s: closed %v after the connect, before obfs4's %v", p.name, closedAfter, want)
			}
		})
	}
	wg.Wait()
	if n := accepted(); n != 1 {
		t.Errorf("Accept returned %d conns, want only the real client's", n)
	}
}

// probe connects to addr, sends data, and reads until the peer closes. It returns what
// came back and how long after the connect began the peer closed; a read that outlasts
// limit is an error, as is anything but a close from the peer.
func probe(addr string, data []byte, limit time.Duration) ([]byte, time.Duration, error) {
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	if _, err := c.Write(data); err != nil {
		return nil, 0, err
	}
	c.SetReadDeadline(start.Add(limit))
	got, err := io.ReadAll(c) // nil at a clean close
	elapsed := time.Since(start)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return got, elapsed, errors.New("still open after " + limit.String())
	}
	return got, elapsed, nil // a reset is a close too
}

// acceptAll accepts from ln until it closes and returns a func that counts the conns.
func acceptAll(t *testing.T, ln transports.Listener) func() int {
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// recorder is a loopback relay to one target that keeps what the client sent.
type recorder struct {
	addr string
	mu   sync.Mutex
	up   bytes.Buffer
}

func startRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer s.Close()
		var pipes sync.WaitGroup
		pipes.Go(func() { io.Copy(s, io.TeeReader(c, r)); s.Close() })
		pipes.Go(func() { io.Copy(c, s); c.Close() })
		pipes.Wait()
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return r
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up.Write(p)
}

// upstream is what the client has sent so far. Once the client's Dial has returned,
// it holds the client's whole handshake: the server answered only after reading it.
func (r *recorder) upstream() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.up.Bytes())
}
