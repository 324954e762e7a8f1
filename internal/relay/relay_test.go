package relay

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// hangTimeout only stops a test that hangs.
const hangTimeout = 20 * time.Second

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// pushConn is a conn that pushes what it reads, the way a session stream does, for
// the relay's side of the Pusher contract.
type pushConn struct{ net.Conn }

func (p pushConn) PushTo(w io.Writer, done func(error)) {
	go func() {
		_, err := io.Copy(w, p.Conn)
		done(err)
	}()
}

func (p pushConn) CloseWrite() error { return p.Conn.(*net.TCPConn).CloseWrite() }

type count struct{ n atomic.Int64 }

func (c *count) Add(f float64) { c.n.Add(int64(f)) }

// kinds are what the app side of a splice can be; the backend side is a TCP socket.
var kinds = []struct {
	name string
	pair func(t *testing.T) (outer, inner net.Conn)
}{
	{"socket", tcpPair},
	{"pipe", func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() }},
	{"pusher", func(t *testing.T) (net.Conn, net.Conn) {
		outer, inner := tcpPair(t)
		return outer, pushConn{inner}
	}},
}

func TestSpliceCopiesBothWaysWithHalfClose(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			app, a := k.pair(t)
			b, backend := tcpPair(t)
			var up, down count
			spliced := make(chan struct{})
			go func() { Splice(a, b, &up, &down); close(spliced) }()

			request, reply := randomBytes(200_000), randomBytes(300_000)
			go func() {
				app.Write(request)
				if cw, ok := app.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
			}()
			r := make([]byte, len(request))
			if _, err := io.ReadFull(backend, r); err != nil || !bytes.Equal(r, request) {
				t.Fatalf("backend read %v; want the %d-byte request", err, len(request))
			}
			// The reply still flows after the app's half-close.
			go func() { backend.Write(reply); backend.(*net.TCPConn).CloseWrite() }()
			r, err := io.ReadAll(app)
			if !bytes.Equal(r, reply) || err != nil {
				t.Fatalf("app read %d bytes, %v; want the %d-byte reply, then EOF", len(r), err, len(reply))
			}
			if k.name == "pipe" {
				app.Close() // a pipe cannot half-close: its end is a close
			}
			if rest, err := io.ReadAll(backend); len(rest) != 0 || err != nil {
				t.Fatalf("backend read %d more bytes, %v after the request; want EOF", len(rest), err)
			}
			select {
			case <-spliced:
			case <-time.After(hangTimeout):
				t.Fatal("Splice did not return after both directions ended")
			}
			if up.n.Load() != int64(len(request)) || down.n.Load() != int64(len(reply)) {
				t.Errorf("counted %d up and %d down, want %d and %d", up.n.Load(), down.n.Load(), len(request), len(reply))
			}
			if _, err := a.Write([]byte("x")); err == nil {
				t.Error("app side still open after Splice returned")
			}
			if _, err := b.Write([]byte("x")); err == nil {
				t.Error("backend side still open after Splice returned")
			}
		})
	}
}

func TestSpliceResetOnOneSideEndsBoth(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			app, a := k.pair(t)
			b, backend := tcpPair(t)
			spliced := make(chan struct{})
			go func() { Splice(a, b, nil, nil); close(spliced) }()
			backend.(*net.TCPConn).SetLinger(0)
			backend.Close() // a reset, not a FIN
			select {
			case <-spliced:
			case <-time.After(hangTimeout):
				t.Fatal("Splice did not return after the backend reset")
			}
			app.SetReadDeadline(time.Now().Add(hangTimeout))
			if _, err := io.ReadAll(app); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Error("app still connected after the backend's reset")
			}
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestCountingWriterWritesBuffersWhole: the buffers a pushing stream hands over in
// one call all arrive, in order, and are counted.
func TestCountingWriterWritesBuffersWhole(t *testing.T) {
	a, b := tcpPair(t)
	var n count
	bufs := net.Buffers{[]byte("first "), make([]byte, 100<<10), []byte(" last")}
	want := bytes.Join(bufs, nil)
	got := make(chan []byte, 1)
	go func() {
		p, _ := io.ReadAll(io.LimitReader(b, int64(len(want))))
		got <- p
	}()
	w := countingWriter{a, &n}
	if m, err := w.WriteBuffers(&bufs); err != nil || m != int64(len(want)) {
		t.Fatalf("WriteBuffers = %d, %v; want %d, nil", m, err, len(want))
	}
	select {
	case p := <-got:
		if !bytes.Equal(p, want) {
			t.Errorf("read %d bytes that differ from the %d written", len(p), len(want))
		}
	case <-time.After(hangTimeout):
		t.Fatal("the bytes did not arrive")
	}
	if n.n.Load() != int64(len(want)) {
		t.Errorf("counted %d bytes, want %d", n.n.Load(), len(want))
	}
}

// TestTryWriteBuffersNeverWaits: to a socket with room, everything goes at once; to
// one whose peer stopped reading, what fits goes and then nothing, without waiting;
// to anything but a socket, nothing, with errors.ErrUnsupported.
func TestTryWriteBuffersNeverWaits(t *testing.T) {
	a, b := tcpPair(t)
	var n count
	w := countingWriter{a, &n}
	msg := [][]byte{[]byte("a chat "), []byte("message")}
	if got, err := w.TryWriteBuffers(msg); err != nil || got != 14 {
		t.Fatalf("TryWriteBuffers to a socket with room = %d, %v; want 14, nil", got, err)
	}
	p := make([]byte, 14)
	if _, err := io.ReadFull(b, p); err != nil || string(p) != "a chat message" {
		t.Fatalf("read %q, %v", p, err)
	}
	// b reads no more: fill a's send buffer and b's receive buffer.
	big := [][]byte{make([]byte, 1<<20)}
	done := make(chan int64, 1)
	go func() {
		var total int64
		for {
			k, err := w.TryWriteBuffers(big)
			if err != nil {
				t.Errorf("TryWriteBuffers to a full socket: %v", err)
				break
			}
			total += int64(k)
			if k == 0 {
				break
			}
		}
		done <- total
	}()
	select {
	case total := <-done:
		if total == 0 {
			t.Error("nothing went to a socket with room")
		}
		if n.n.Load() != 14+total {
			t.Errorf("counted %d bytes, want %d", n.n.Load(), 14+total)
		}
	case <-time.After(hangTimeout):
		t.Fatal("TryWriteBuffers waited on a full socket")
	}
	var sink bytes.Buffer
	if got, err := (countingWriter{&sink, &n}).TryWriteBuffers(msg); got != 0 || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("TryWriteBuffers to a non-socket = %d, %v; want 0, ErrUnsupported", got, err)
	}
}
