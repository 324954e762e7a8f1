package obfs4

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/admission"
)

// testHold is the listener's shortest silence in these tests: short, so they are.
const testHold = time.Second

// TestProbersSeeObfs4Silence sends what an active prober sends to the listener and
// wants what a silent server shows: no byte back, and no close before the hold has
// passed since the connect, whatever was sent. (That the close times differ per
// connection is shown in internal/lab, over many probes.)
func TestProbersSeeObfs4Silence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeState(t, dir)
	ln := listenLoopback(t, transports.ListenConfig{StateDir: dir, Admission: admission.NewPool(admission.Config{Hold: testHold})})
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
			got, closedAfter, err := probe(ln.Addr().String(), p.probe, hangGuard)
			if err != nil {
				t.Errorf("%s: %v", p.name, err)
				return
			}
			if len(got) != 0 {
				t.Errorf("%s: the listener answered %d bytes", p.name, len(got))
			}
			if closedAfter < testHold {
				t.Errorf("%s: closed %v after the connect, before the hold of %v", p.name, closedAfter, testHold)
			}
		})
	}
	wg.Wait()
	if n := accepted(); n != 1 {
		t.Errorf("Accept returned %d conns, want only the real client's", n)
	}
}

// TestAnIdlePeerGivesItsHandshakePlaceToANewcomer fills the listener's one place with
// a peer that says nothing: a real client still gets through, and the idle peer,
// evicted, is held in silence as a failed one is, not closed at once.
func TestAnIdlePeerGivesItsHandshakePlaceToANewcomer(t *testing.T) {
	t.Parallel()
	var drops []string
	var mu sync.Mutex
	pool := admission.NewPool(admission.Config{Slots: 1, Hold: testHold, OnDrop: func(r string) {
		mu.Lock()
		drops = append(drops, r)
		mu.Unlock()
	}})
	ln := listenLoopback(t, transports.ListenConfig{Admission: pool})
	accepted := acceptAll(t, ln)
	start := time.Now()
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	for pool.Len() == 0 { // the listener has taken the idle peer in
		runtime.Gosched()
	}
	c, err := dialerFor(t, ln).Dial(t.Context())
	if err != nil {
		t.Fatalf("a client while an idle peer held the only place: %v", err)
	}
	c.Close()
	idle.SetReadDeadline(time.Now().Add(hangGuard))
	n, err := idle.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("the evicted peer read %d bytes, %v; want a FIN and nothing else", n, err)
	}
	if held := time.Since(start); held < testHold {
		t.Errorf("the evicted peer was closed %v after its connect, before the hold of %v", held, testHold)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(drops) != 1 || drops[0] != admission.ReasonEvicted {
		t.Errorf("drops counted: %v, want one eviction", drops)
	}
	if n := accepted(); n != 1 {
		t.Errorf("Accept returned %d conns, want the client's", n)
	}
}

// hangGuard only keeps a broken listener from hanging a test.
const hangGuard = time.Minute

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
