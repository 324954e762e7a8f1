package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

func TestSessionCarriesStreamsBothWays(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			checkGoroutines(t)
			cc, sc := testConfigs()
			r := mustHandshake(t, c, cc, sc)
			if r.client.ID() != r.server.ID() {
				t.Fatalf("client has session ID %x, gateway %x", r.client.ID(), r.server.ID())
			}
			// The gateway counts an echoed byte once its write returned, which may be
			// after the client has read it: the counts are checked once the echoes end.
			var echoes sync.WaitGroup
			go func() {
				for {
					st, err := r.server.AcceptStream(context.Background())
					if err != nil {
						return
					}
					if conn, err := st.Accept(); err == nil {
						echoes.Go(func() { io.Copy(conn, conn); conn.Close() })
					}
				}
			}()

			const streams = 4
			sizes := []int{1, 1000, 70_000, 300_000}
			var wg sync.WaitGroup
			errs := make(chan error, streams)
			for i := range streams {
				wg.Go(func() { errs <- echoOnce(r.client, sizes[i]) })
			}
			wg.Wait()
			echoes.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			var total uint64
			for _, n := range sizes {
				total += uint64(n)
			}
			if in, out := r.client.Bytes(); in != total || out != total {
				t.Errorf("client Bytes() = %d in, %d out; want %d both", in, out, total)
			}
			if in, out := r.server.Bytes(); in != total || out != total {
				t.Errorf("gateway Bytes() = %d in, %d out; want %d both", in, out, total)
			}
		})
	}
}

// echoOnce sends n random bytes on an "echo" stream and checks they come back.
func echoOnce(s *Session, n int) error {
	conn, err := s.OpenStream(context.Background(), "echo")
	if err != nil {
		return fmt.Errorf("open echo stream: %w", err)
	}
	defer conn.Close()
	want := make([]byte, n)
	rand.Read(want)
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(want)
		werr <- err
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(conn, got); err != nil {
		return fmt.Errorf("read %d echoed bytes: %w", n, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write %d bytes: %w", n, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("echo of %d bytes came back different", n)
	}
	return nil
}

func TestStreamRefusals(t *testing.T) {
	cases := []struct {
		service string
		want    error
	}{
		{"nosuch", ErrUnknownService},
		{"down", ErrServiceUnavailable},
		{"echo", nil},
	}
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			checkGoroutines(t)
			cc, sc := testConfigs()
			r := mustHandshake(t, c, cc, sc)
			go serveTest(r.server)
			for _, tc := range cases {
				conn, err := r.client.OpenStream(context.Background(), tc.service)
				if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Errorf("OpenStream(%q) error = %v, want %v", tc.service, err, tc.want)
				}
				if conn != nil {
					conn.Close()
				}
			}
		})
	}
}

func TestOpenStreamRejectsBadServiceNames(t *testing.T) {
	cc, sc := testConfigs()
	r := mustHandshake(t, carriers[0], cc, sc)
	for _, name := range []string{"", string(make([]byte, 256))} {
		if _, err := r.client.OpenStream(context.Background(), name); err == nil {
			t.Errorf("OpenStream with a %d-byte name succeeded, want an error", len(name))
		}
	}
}

func TestStreamLimitRefusesBeyondMaxStreams(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			checkGoroutines(t)
			cc, sc := testConfigs()
			sc.MaxStreams = 2
			r := mustHandshake(t, c, cc, sc)
			go serveTest(r.server)

			var open []io.Closer
			for i := range 2 {
				conn, err := r.client.OpenStream(context.Background(), "echo")
				if err != nil {
					t.Fatalf("stream %d of 2: %v", i+1, err)
				}
				open = append(open, conn)
			}
			if _, err := r.client.OpenStream(context.Background(), "echo"); !errors.Is(err, ErrStreamLimit) {
				t.Fatalf("third stream: error %v, want ErrStreamLimit", err)
			}
			if n := r.server.NumStreams(); n != 2 {
				t.Errorf("gateway NumStreams() = %d with 2 open, want 2", n)
			}
			if n := r.client.NumStreams(); n != 2 {
				t.Errorf("client NumStreams() = %d with 2 open, want 2", n)
			}
			// Closing one frees a slot once the gateway has closed its side too.
			open[0].Close()
			waitFor(t, "gateway to close its side of the first stream", func() bool { return r.server.NumStreams() < 2 })
			conn, err := r.client.OpenStream(context.Background(), "echo")
			if err != nil {
				t.Fatalf("stream after one closed: %v", err)
			}
			conn.Close()
			open[1].Close()
		})
	}
}

func TestCloseEndsSessionOnBothSides(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			checkGoroutines(t)
			cc, sc := testConfigs()
			r := mustHandshake(t, c, cc, sc)
			go serveTest(r.server)
			conn, err := r.client.OpenStream(context.Background(), "echo")
			if err != nil {
				t.Fatal(err)
			}
			id := r.server.ID()
			if _, err := sc.Store.Get(context.Background(), id); err != nil {
				t.Fatalf("gateway store has no state for the new session: %v", err)
			}
			if err := r.client.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := r.client.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			waitDone(t, "client", r.client)
			waitDone(t, "gateway", r.server)
			if _, err := conn.Write([]byte("x")); err == nil {
				t.Error("write on a stream of a closed session succeeded")
			}
			if _, err := r.client.OpenStream(context.Background(), "echo"); !errors.Is(err, ErrClosed) {
				t.Errorf("OpenStream after Close: %v, want ErrClosed", err)
			}
			if _, err := r.server.AcceptStream(context.Background()); !errors.Is(err, ErrClosed) {
				t.Errorf("AcceptStream after the peer closed: %v, want ErrClosed", err)
			}
			if _, err := sc.Store.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
				t.Errorf("gateway store still has the closed session: %v", err)
			}
		})
	}
}

func TestAcceptStreamObeysContext(t *testing.T) {
	checkGoroutines(t)
	cc, sc := testConfigs()
	r := mustHandshake(t, carriers[0], cc, sc)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.server.AcceptStream(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("AcceptStream with a cancelled context: %v, want context.Canceled", err)
	}
	// A stream that arrives after a cancelled accept is still delivered.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	got := make(chan error, 1)
	go func() {
		st, err := r.server.AcceptStream(ctx)
		if err == nil {
			_, err = st.Accept()
		}
		got <- err
	}()
	conn, err := r.client.OpenStream(context.Background(), "x")
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	conn.Close()
	if err := <-got; err != nil {
		t.Fatalf("AcceptStream: %v", err)
	}
}

func waitDone(t *testing.T, who string, s *Session) {
	t.Helper()
	waitFor(t, who+" session to end", func() bool {
		select {
		case <-s.Done():
			return true
		default:
			return false
		}
	})
}
