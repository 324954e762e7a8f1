package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// muxOpen opens a stream on the client and accepts it on the gateway.
func muxOpenPair(t *testing.T, p *muxPair, service string) (client, server *muxStream) {
	t.Helper()
	c, err := p.client.open(context.Background(), service)
	if err != nil {
		t.Fatalf("open %q: %v", service, err)
	}
	s, err := p.server.accept(context.Background())
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	if s.service != service || s.id != c.id {
		t.Fatalf("accepted stream %d for %q, opened %d for %q", s.id, s.service, c.id, service)
	}
	return c, s
}

func TestMuxStreamsCarryDataBothWays(t *testing.T) {
	checkGoroutines(t)
	p := newMuxPair(t, 64<<10)
	sizes := []int{1, 5000, maxMuxPayload + 1, 3 * maxStreamWindow}
	var wg sync.WaitGroup
	for _, n := range sizes {
		c, s := muxOpenPair(t, p, "echo")
		go func() { io.Copy(s, s); s.CloseWrite() }()
		wg.Go(func() {
			want := randomBytes(n)
			got := readAll(c)
			if _, err := c.Write(want); err != nil {
				t.Errorf("write %d bytes: %v", n, err)
			}
			c.CloseWrite()
			if b := <-got; !bytes.Equal(b, want) {
				t.Errorf("echo of %d bytes came back as %d different bytes", n, len(b))
			}
			c.Close()
		})
	}
	wg.Wait()
}

func TestMuxUnreadStreamStallsOnlyItself(t *testing.T) {
	checkGoroutines(t)
	p := newMuxPair(t, 64<<10)
	stalled, _ := muxOpenPair(t, p, "unread")
	blocked := make(chan error, 1)
	go func() {
		_, err := stalled.Write(make([]byte, 4*maxStreamWindow))
		blocked <- err
	}()
	c, s := muxOpenPair(t, p, "busy")
	want := randomBytes(4 * maxStreamWindow)
	got := readAll(s)
	if _, err := c.Write(want); err != nil {
		t.Fatalf("write on the busy stream: %v", err)
	}
	c.CloseWrite()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("busy stream delivered %d bytes, want the %d written", len(b), len(want))
	}
	stalled.mu.Lock()
	sent := stalled.sent
	stalled.mu.Unlock()
	if sent > streamWindow {
		t.Errorf("the unread stream sent %d bytes, past its %d-byte window", sent, streamWindow)
	}
	stalled.Close()
	if err := <-blocked; !errors.Is(err, net.ErrClosed) {
		t.Errorf("write blocked on credit, after Close: %v, want net.ErrClosed", err)
	}
}

func TestMuxHalfClose(t *testing.T) {
	checkGoroutines(t)
	p := newMuxPair(t, 64<<10)
	c, s := muxOpenPair(t, p, "half")
	c.Write([]byte("question"))
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if b, err := io.ReadAll(s); string(b) != "question" || err != nil {
		t.Fatalf("gateway read %q, %v; want the question, then EOF", b, err)
	}
	if _, err := s.Write([]byte("answer")); err != nil {
		t.Fatalf("write after the peer's FIN: %v", err)
	}
	s.Close()
	if b, err := io.ReadAll(c); string(b) != "answer" || err != nil {
		t.Fatalf("client read %q, %v; want the answer, then EOF", b, err)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("write after CloseWrite succeeded")
	}
	c.Close()
	waitFor(t, "both sides to forget the stream", func() bool {
		p.client.mu.Lock()
		defer p.client.mu.Unlock()
		p.server.mu.Lock()
		defer p.server.mu.Unlock()
		return p.client.streams == nil && p.server.streams == nil
	})
}

func TestMuxCloseResetsThePeersWrites(t *testing.T) {
	checkGoroutines(t)
	p := newMuxPair(t, 64<<10)
	c, s := muxOpenPair(t, p, "talker")
	c.Write([]byte("last words"))
	c.Close()
	if b, err := io.ReadAll(s); string(b) != "last words" || err != nil {
		t.Fatalf("gateway read %q, %v after the client's Close; want its bytes, then EOF", b, err)
	}
	var err error
	for err == nil {
		_, err = s.Write(make([]byte, 64<<10))
	}
	if !isReset(err) {
		t.Fatalf("gateway write after the client's Close: %v, want a reset", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v, want net.ErrClosed", err)
	}
	s.Close()
}

func TestMuxDeadlines(t *testing.T) {
	checkGoroutines(t)
	p := newMuxPair(t, 64<<10)
	c, s := muxOpenPair(t, p, "slow")
	timeout := func(what string, err error) {
		t.Helper()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: %v, want a timeout", what, err)
		}
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := c.Read(make([]byte, 1))
	timeout("read past its deadline", err)

	// A deadline set while a Read waits ends the wait; clearing it allows reads again.
	done := make(chan error, 1)
	c.SetReadDeadline(time.Time{})
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	timeout("read waiting when its deadline passed", <-done)
	c.SetReadDeadline(time.Time{})
	s.Write([]byte("x"))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Errorf("read after clearing the deadline: %v", err)
	}

	// A write waiting for credit ends at its deadline, having filled the window.
	s.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := s.Write(make([]byte, 2*streamWindow))
	timeout("write waiting for credit", err)
	if want := streamWindow - 1; n != want {
		t.Errorf("write waiting for credit sent %d bytes, want the %d the window had left", n, want)
	}
	c.Close()
	s.Close()
}

func TestMuxAcceptBacklogResetsTheOverflow(t *testing.T) {
	checkGoroutines(t)
	p := newMuxPair(t, 1<<20)
	var open []*muxStream
	for range acceptBacklog + 1 {
		c, err := p.client.open(context.Background(), "queued")
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	last := open[len(open)-1]
	if _, err := last.Read(make([]byte, 1)); !isReset(err) {
		t.Fatalf("stream beyond the backlog: read %v, want a reset", err)
	}
	for range acceptBacklog {
		if _, err := p.server.accept(context.Background()); err != nil {
			t.Fatalf("accept a queued stream: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.server.accept(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("accept with the backlog drained and ctx cancelled: %v", err)
	}
}

func TestMuxTurnsGoRoundRobin(t *testing.T) {
	p := newMuxPair(t, 64<<10)
	m := p.client
	streams := []*muxStream{newMuxStream(m, 1), newMuxStream(m, 2), newMuxStream(m, 3)}
	if !m.acquireTurn(streams[0], nil) {
		t.Fatal("first turn not given at once")
	}
	got := make(chan uint32, 10)
	var wg sync.WaitGroup
	defer wg.Wait()
	queue := func(s *muxStream) {
		n := len(m.queue)
		wg.Go(func() {
			if m.acquireTurn(s, nil) {
				got <- s.id
			}
		})
		waitFor(t, "a writer to queue", func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return len(m.queue) > n
		})
	}
	queue(streams[1])
	queue(streams[2])
	m.releaseTurn()
	if id := <-got; id != 2 {
		t.Fatalf("turn went to stream %d, want 2, first in the queue", id)
	}
	queue(streams[0])
	m.releaseTurn()
	if id := <-got; id != 3 {
		t.Fatalf("turn went to stream %d, want 3, queued before stream 1 came back", id)
	}
	m.releaseTurn()
	if id := <-got; id != 1 {
		t.Fatalf("turn went to stream %d, want 1", id)
	}
	m.releaseTurn()
}

func TestMuxIdleHoldsNoBuffers(t *testing.T) {
	p := newMuxPair(t, 64<<10)
	c, s := muxOpenPair(t, p, "idle")
	s.Write(randomBytes(3 * maxMuxPayload))
	if _, err := io.ReadFull(c, make([]byte, 3*maxMuxPayload)); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recv.chunks != nil || c.recv.size != 0 {
		t.Errorf("a stream with everything read holds %d chunks (%d bytes)", len(c.recv.chunks), c.recv.size)
	}
	if c.rd.ch != nil || c.wd.ch != nil || c.readable.ch != nil {
		t.Error("a stream with nothing waiting holds channels")
	}
}

func TestMuxSessionEndFailsWaitingStreams(t *testing.T) {
	checkGoroutines(t)
	p := newMuxPair(t, 64<<10)
	c, s := muxOpenPair(t, p, "doomed")
	errc := make(chan error, 2)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	go func() {
		_, err := p.server.accept(context.Background())
		errc <- err
	}()
	p.close(errors.New("carrier gone"))
	for range 2 {
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Errorf("waiting read or accept when the session ended: %v, want ErrClosed", err)
		}
	}
	if _, err := p.client.open(context.Background(), "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("open after the end: %v, want ErrClosed", err)
	}
	s.Close()
}

// A stream's window grows while it is the bottleneck (the peer has used all its credit
// and the reader has emptied the buffer), but only as far as the session's streams
// together stay within sessionWindow: a peer cannot make a gateway hold many large
// windows by opening streams. The test orders arrivals and reads itself: the client
// sends exactly the credit it has, the test waits until all of it has arrived, then
// reads it in one Read (or in two halves, which grants credit midway: the reader kept
// up, so the window is not the bottleneck).
func TestMuxWindowGrowthStaysWithinTheSessionBudget(t *testing.T) {
	budgetStreams := int(sessionWindow / (2 * streamWindow)) // the most streams whose windows may all double
	tests := []struct {
		name     string
		streams  int
		halves   bool
		wantGrow bool
	}{
		{"one stream grows", 1, false, true},
		{"streams at the budget grow", budgetStreams, false, true},
		{"one stream past the budget stays", budgetStreams + 1, false, false},
		{"many streams stay", 2 * sessionWindow / streamWindow, false, false},
		{"a reader that keeps up does not grow the window", 1, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			p := newMuxPair(t, 64<<10)
			defer p.close(nil)
			var c, s *muxStream
			for range tt.streams {
				c, s = muxOpenPair(t, p, "sink")
			}
			if _, err := c.Write(randomBytes(streamWindow)); err != nil {
				t.Fatal(err)
			}
			waitArrived(t, s, streamWindow)
			reads := []int{streamWindow}
			if tt.halves {
				reads = []int{streamWindow / 2, streamWindow / 2}
			}
			for _, n := range reads {
				buf := make([]byte, streamWindow)
				if got, err := s.Read(buf[:n]); got != n || err != nil {
					t.Fatalf("read %d of %d buffered bytes: %d, %v", n, streamWindow, got, err)
				}
			}
			s.mu.Lock()
			window, granted := s.window, s.granted
			s.mu.Unlock()
			if grew := window > streamWindow; grew != tt.wantGrow {
				t.Fatalf("with %d streams the window is %d bytes (initial %d); want growth %v", tt.streams, window, streamWindow, tt.wantGrow)
			}
			if want := uint64(streamWindow) + window; granted != want {
				t.Errorf("granted up to %d after reading %d with a %d-byte window; want %d", granted, streamWindow, window, want)
			}
		})
	}
}

// waitArrived waits until s has received n bytes from its peer, on the stream's own
// signal rather than a sleep.
func waitArrived(t *testing.T, s *muxStream, n uint64) {
	t.Helper()
	timeout := time.After(hangTimeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.recvd < n {
		wait := s.readable.wait()
		s.mu.Unlock()
		select {
		case <-wait:
		case <-timeout:
			s.mu.Lock()
			t.Fatalf("%d of %d bytes arrived within %v", s.recvd, n, hangTimeout)
		}
		s.mu.Lock()
	}
}
