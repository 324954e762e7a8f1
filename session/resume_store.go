package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// storeTimeout bounds a session's own calls to its Store: Put when it resumes, Delete
// when it ends.
const storeTimeout = 5 * time.Second

// ErrNotFound is returned by a Store's Get for an ID it does not hold.
var ErrNotFound = errors.New("session: no such session")

// NewMemoryStore returns a Store that keeps state in this process: enough for one
// edge; a fleet's edges share theirs in Redis (gateway/fleet).
func NewMemoryStore() Store {
	return &memoryStore{m: make(map[ID]State)}
}

type memoryStore struct {
	mu sync.Mutex
	m  map[ID]State
}

func (s *memoryStore) Put(ctx context.Context, st State) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("session store: put: %w", err)
	}
	s.mu.Lock()
	s.m[st.ID] = st
	s.mu.Unlock()
	return nil
}

func (s *memoryStore) Get(ctx context.Context, id ID) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, fmt.Errorf("session store: get: %w", err)
	}
	s.mu.Lock()
	st, ok := s.m[id]
	s.mu.Unlock()
	if !ok {
		return State{}, fmt.Errorf("session store: get %x: %w", id[:4], ErrNotFound)
	}
	return st, nil
}

func (s *memoryStore) Delete(ctx context.Context, id ID) error {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
	return nil
}
