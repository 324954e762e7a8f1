package session

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/replay"
)

// A hello the replay cache cannot check (a store that cannot be reached, a journal
// that cannot be written: here a closed filter) may be a replay, so it gets what
// garbage gets: nothing written, every byte read handed back.
func TestHelloTheReplayCacheCannotCheckGetsNothing(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			cc, sc := testConfigs()
			broken := replay.New(replay.Config{})
			broken.Close()
			sc.Replay = broken
			hello := craftHello(t, cc)
			so := startServer(t, c, context.Background(), sc)
			go so.client.Write(hello)
			err := so.wait(t)
			if got := helloReason(err); got != "unchecked" || !errors.Is(err, replay.ErrClosed) {
				t.Errorf("Server: %v, reason %q; want reason \"unchecked\" wrapping the cache's error", err, got)
			}
			if n := so.written.Load(); n != 0 {
				t.Errorf("gateway wrote %d bytes to a hello it could not check; want none", n)
			}
			if got := consumed(err); !bytes.Equal(got, hello) {
				t.Errorf("Consumed holds %d bytes; want the %d of the hello", len(got), len(hello))
			}
		})
	}
}

func TestMemoryStore(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	st := State{ID: ID{1, 2, 3}, Created: time.Unix(1_800_000_000, 0), Endpoint: testEndpoint}
	if _, err := s.Get(ctx, st.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an absent ID: %v, want ErrNotFound", err)
	}
	if err := s.Put(ctx, st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, st.ID)
	if err != nil || got != st {
		t.Fatalf("Get after Put = %+v, %v; want %+v", got, err, st)
	}
	if err := s.Delete(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, st.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(cancelled, st); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v, want context.Canceled", err)
	}
}
