package session

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// TestHandleStreamsTakesEveryStream: streams opened before HandleStreams (waiting in
// the backlog) and after it reach the handler, each once; those beyond the session's
// limit are refused and never reach it.
func TestHandleStreamsTakesEveryStream(t *testing.T) {
	checkGoroutines(t)
	cc, sc := testConfigs()
	sc.MaxStreams = 3
	r := mustHandshake(t, carriers[0], cc, sc)

	type opened struct {
		conn net.Conn
		err  error
	}
	early := make(chan opened, 1)
	go func() {
		conn, err := r.client.OpenStream(context.Background(), "echo")
		early <- opened{conn, err}
	}()
	waitFor(t, "the first open to wait in the backlog", func() bool {
		r.server.mux.mu.Lock()
		defer r.server.mux.mu.Unlock()
		return len(r.server.mux.backlog) == 1
	})

	var mu sync.Mutex
	var handled []string
	var relays sync.WaitGroup
	r.server.HandleStreams(func(st *Stream) {
		mu.Lock()
		handled = append(handled, st.Service())
		mu.Unlock()
		conn, err := st.Accept()
		if err != nil {
			return
		}
		relays.Go(func() { io.Copy(conn, conn); conn.Close() })
	})
	first := <-early
	if first.err != nil {
		t.Fatalf("stream opened before HandleStreams: %v", first.err)
	}
	conns := []net.Conn{first.conn}
	for range 2 {
		conn, err := r.client.OpenStream(context.Background(), "echo")
		if err != nil {
			t.Fatalf("stream opened after HandleStreams: %v", err)
		}
		conns = append(conns, conn)
	}
	if _, err := r.client.OpenStream(context.Background(), "echo"); !errors.Is(err, ErrStreamLimit) {
		t.Fatalf("fourth stream with a limit of 3: %v, want ErrStreamLimit", err)
	}
	for i, conn := range conns {
		if err := echoOn(conn, 1000*(i+1)); err != nil {
			t.Errorf("stream %d: %v", i+1, err)
		}
		conn.Close()
	}
	relays.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 3 {
		t.Errorf("handler took %d streams (%q), want the 3 within the limit", len(handled), handled)
	}
}

// TestContextEndsWithTheSession: what waits on a session's Context runs when the
// session ends, on both sides.
func TestContextEndsWithTheSession(t *testing.T) {
	checkGoroutines(t)
	cc, sc := testConfigs()
	r := mustHandshake(t, carriers[0], cc, sc)
	ended := make(chan string, 2)
	context.AfterFunc(r.client.Context(), func() { ended <- "client" })
	context.AfterFunc(r.server.Context(), func() { ended <- "gateway" })
	select {
	case side := <-ended:
		t.Fatalf("%s's context done while the session lives", side)
	default:
	}
	r.client.Close()
	for range 2 {
		<-ended
	}
	if r.server.Context().Err() == nil || r.server.Err() == nil {
		t.Errorf("gateway context %v, session error %v after the close; want both set", r.server.Context().Err(), r.server.Err())
	}
}
