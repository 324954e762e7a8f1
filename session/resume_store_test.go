package session

import (
	"context"
	"errors"
	"testing"
	"time"
)

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
