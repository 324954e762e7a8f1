package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// pushSink collects what a pushing stream writes, and how its push ended.
type pushSink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	fail  error // what Write returns, when set
	ended chan error
}

func newPushSink() *pushSink { return &pushSink{ended: make(chan error, 2)} }

func (k *pushSink) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return 0, k.fail
	}
	return k.buf.Write(p)
}

func (k *pushSink) done(err error) { k.ended <- err }

func (k *pushSink) bytes() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return bytes.Clone(k.buf.Bytes())
}

// end waits for the push to end and fails the test if it ends twice.
func (k *pushSink) end(t *testing.T) error {
	t.Helper()
	var err error
	select {
	case err = <-k.ended:
	case <-time.After(hangTimeout):
		t.Fatal("the push did not end")
	}
	select {
	case again := <-k.ended:
		t.Fatalf("done called twice: %v, then %v", err, again)
	default:
	}
	return err
}

// delivered waits for a push to end at the peer's FIN and fails the test unless it
// wrote want, whole and in order.
func (k *pushSink) delivered(t *testing.T, want []byte) {
	t.Helper()
	if err := k.end(t); err != nil {
		t.Fatalf("push ended with %v, want nil after the FIN", err)
	}
	if got := k.bytes(); !bytes.Equal(got, want) {
		t.Errorf("pushed %d bytes, not the %d sent (or not in order)", len(got), len(want))
	}
}

func TestMuxPushDeliversEverythingThenEOF(t *testing.T) {
	tests := []struct {
		name    string
		before  int  // bytes sent before the push starts
		after   int  // bytes sent after
		buffers bool // the writer takes buffers (writev)
	}{
		{"nothing", 0, 0, false},
		{"bytes held before the push", 5000, 0, false},
		{"bytes arriving during the push", 0, 3 * maxStreamWindow, false},
		{"both", maxMuxPayload + 1, 2 * maxStreamWindow, false},
		{"both, to a writer of buffers", streamWindow, 3 * maxStreamWindow, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			p := newMuxPair(t, 64<<10)
			c, s := muxOpenPair(t, p, "push")
			want := randomBytes(tt.before + tt.after)
			if _, err := c.Write(want[:tt.before]); err != nil {
				t.Fatalf("write before the push: %v", err)
			}
			waitArrived(t, s, uint64(tt.before))
			sink := newPushSink()
			var w io.Writer = sink
			if tt.buffers {
				w = &buffersSink{pushSink: sink}
			}
			s.pushTo(w, sink.done)
			if _, err := c.Write(want[tt.before:]); err != nil {
				t.Fatalf("write during the push: %v", err)
			}
			c.CloseWrite()
			sink.delivered(t, want)
			c.Close()
			s.Close()
		})
	}
}

// buffersSink is a pushSink that takes several buffers at once, as the relay's
// writers do, and counts the calls.
type buffersSink struct {
	*pushSink
	calls, writes int // WriteBuffers and Write calls
}

func (k *buffersSink) Write(p []byte) (int, error) {
	k.mu.Lock()
	k.writes++
	k.mu.Unlock()
	return k.pushSink.Write(p)
}

func (k *buffersSink) WriteBuffers(bufs *net.Buffers) (int64, error) {
	k.mu.Lock()
	k.calls++
	k.mu.Unlock()
	return bufs.WriteTo(k.pushSink)
}

// TestMuxPushWritesWhatItHoldsInOneCall: what a stream holds when its push starts
// goes to a writer that takes buffers in one call, however many chunks it fills, up
// to maxPushChunks; everything arrives once and in order. (Pushes longer than that
// batch are TestMuxPushDeliversEverythingThenEOF's, with both kinds of writer.)
func TestMuxPushWritesWhatItHoldsInOneCall(t *testing.T) {
	for _, size := range []int{1, 5*chunkSize + 1, streamWindow} { // a stream holds at most its window
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			checkGoroutines(t)
			p := newMuxPair(t, 64<<10)
			c, s := muxOpenPair(t, p, "push")
			want := randomBytes(size)
			go c.Write(want)
			waitArrived(t, s, uint64(size))
			sink := &buffersSink{pushSink: newPushSink()}
			s.pushTo(sink, sink.done)
			c.CloseWrite()
			sink.delivered(t, want)
			sink.mu.Lock()
			calls, writes := sink.calls, sink.writes
			sink.mu.Unlock()
			if writes != 0 {
				t.Errorf("%d bytes held took %d calls of Write, want WriteBuffers alone", size, writes)
			}
			// Chunks are filled as frames arrive, so size bytes may take a chunk more
			// than size/chunkSize rounded up.
			chunks := (size+chunkSize-1)/chunkSize + 1
			if wantCalls := (chunks + maxPushChunks - 1) / maxPushChunks; calls < 1 || calls > wantCalls {
				t.Errorf("%d bytes held took %d writes, want at most %d", size, calls, wantCalls)
			}
			c.Close()
			s.Close()
		})
	}
}

func TestMuxPushEndsWithTheStream(t *testing.T) {
	tests := []struct {
		name string
		end  func(p *muxPair, c, s *muxStream, sink *pushSink)
		want func(error) bool
	}{
		{"peer closes: FIN, then RST", func(_ *muxPair, c, _ *muxStream, _ *pushSink) { c.Close() },
			func(err error) bool { return err == nil }}, // Close sends FIN before RST: EOF
		{"stream closed here", func(_ *muxPair, _, s *muxStream, _ *pushSink) { s.Close() },
			func(err error) bool { return errors.Is(err, net.ErrClosed) }},
		{"session ends", func(p *muxPair, _, _ *muxStream, _ *pushSink) { p.close(errors.New("carrier gone")) },
			func(err error) bool { return errors.Is(err, ErrClosed) }},
		{"read deadline passes", func(_ *muxPair, _, s *muxStream, _ *pushSink) {
			s.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		},
			func(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }},
		{"writer fails", func(_ *muxPair, c, _ *muxStream, sink *pushSink) {
			sink.mu.Lock()
			sink.fail = errors.New("backend gone")
			sink.mu.Unlock()
			c.Write([]byte("x"))
		}, func(err error) bool { return err != nil && err.Error() == "backend gone" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			p := newMuxPair(t, 64<<10)
			c, s := muxOpenPair(t, p, "push")
			sink := newPushSink()
			s.pushTo(sink, sink.done)
			tt.end(p, c, s, sink)
			if err := sink.end(t); !tt.want(err) {
				t.Errorf("push ended with %v", err)
			}
			c.Close()
			s.Close()
		})
	}
}

// TestMuxIdlePushHoldsNoGoroutine: a pushing stream with nothing to deliver has no
// goroutine of its own; one runs while data arrives and is gone after.
func TestMuxIdlePushHoldsNoGoroutine(t *testing.T) {
	checkGoroutines(t)
	p := newMuxPair(t, 64<<10)
	c, s := muxOpenPair(t, p, "push")
	sink := newPushSink()
	s.pushTo(sink, sink.done)
	running := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.push != nil && s.push.running
	}
	waitFor(t, "the first push to find nothing and end", func() bool { return !running() })
	c.Write([]byte("hello"))
	waitFor(t, "the bytes to be pushed", func() bool { return string(sink.bytes()) == "hello" })
	waitFor(t, "the push goroutine to end once nothing is left", func() bool { return !running() })
	c.Close()
	if err := sink.end(t); err != nil {
		t.Errorf("push ended with %v after the peer's close, want nil", err)
	}
	s.Close()
}

// TestSessionPushPassesBuffersThrough: a session stream's PushTo counts what it
// writes by wrapping the writer, and the wrapper passes a push's buffers on in one
// call: the relay's writer then gives the socket one writev, not a write per chunk.
func TestSessionPushPassesBuffersThrough(t *testing.T) {
	checkGoroutines(t)
	cc, sc := testConfigs()
	r := mustHandshake(t, carrier{"tcp", tcpPair}, cc, sc)
	defer r.client.Close()
	defer r.server.Close()
	const size = 5*chunkSize + 1
	accepted := make(chan net.Conn, 1)
	go func() {
		st, err := r.server.AcceptStream(context.Background())
		if err != nil {
			accepted <- nil
			return
		}
		conn, _ := st.Accept()
		accepted <- conn
	}()
	c, err := r.client.OpenStream(context.Background(), "push")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := randomBytes(size)
	go c.Write(want)
	conn := <-accepted
	if conn == nil {
		t.Fatal("the gateway accepted no stream")
	}
	defer conn.Close()
	sc2 := conn.(*streamConn)
	waitArrived(t, sc2.muxStream, size)
	sink := &buffersSink{pushSink: newPushSink()}
	sc2.PushTo(sink, sink.done)
	c.(interface{ CloseWrite() error }).CloseWrite()
	sink.delivered(t, want)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.writes != 0 || sink.calls == 0 {
		t.Errorf("%d bytes held reached the writer in %d Write and %d WriteBuffers calls, want WriteBuffers alone", size, sink.writes, sink.calls)
	}
}

// trySink is a buffersSink that also takes writes without waiting, up to take bytes
// of each (all of them when take is 0), and counts them.
type trySink struct {
	*buffersSink
	take  int
	tries int
}

func (k *trySink) TryWriteBuffers(bufs [][]byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tries++
	n := 0
	for _, b := range bufs {
		if k.take > 0 {
			b = b[:min(len(b), k.take-n)]
		}
		k.buf.Write(b)
		n += len(b)
	}
	return n, nil
}

// TestMuxPushWritesMessagesWithoutAGoroutine: a message that the writer takes at
// once is written by the stream's reader, and no push goroutine writes anything;
// what it does not take, and bulk data, the push goroutine writes after, in order.
func TestMuxPushWritesMessagesWithoutAGoroutine(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		take      int  // what each try takes; 0: all
		goroutine bool // the push goroutine must write some
	}{
		{"a message, taken whole", 1024, 0, false},
		{"a message, taken in part", 1024, 100, true},
		{"bulk", 4 * maxTryPush, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			p := newMuxPair(t, 64<<10)
			c, s := muxOpenPair(t, p, "push")
			sink := &trySink{buffersSink: &buffersSink{pushSink: newPushSink()}, take: tt.take}
			s.pushTo(sink, sink.done)
			want := randomBytes(tt.size)
			if _, err := c.Write(want); err != nil {
				t.Fatal(err)
			}
			c.CloseWrite()
			sink.delivered(t, want)
			sink.mu.Lock()
			defer sink.mu.Unlock()
			byGoroutine := sink.writes + sink.calls
			if tt.goroutine != (byGoroutine > 0) {
				t.Errorf("%d tries, %d writes by the push goroutine; want the goroutine to write: %v", sink.tries, byGoroutine, tt.goroutine)
			}
			if !tt.goroutine && sink.tries == 0 {
				t.Error("the message was not tried")
			}
			c.Close()
			s.Close()
		})
	}
}
