package client

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestResumeTurns(t *testing.T) {
	const (
		patience = time.Second
		timeout  = 15 * time.Second
	)
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	slow := func(ctx context.Context) error {
		select {
		case <-time.After(5 * patience):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ok := func(context.Context) error { return nil }
	type attempt struct {
		start   time.Duration // after the first
		do      func(context.Context) error
		err     error         // nil, errYielded, context.DeadlineExceeded
		endedAt time.Duration // since the first started
	}
	for _, tc := range []struct {
		name     string
		attempts []attempt
	}{
		{"alone, a slow resume keeps its turn", []attempt{{0, slow, nil, 5 * patience}}},
		{"alone, a silent one runs into the timeout", []attempt{{0, hang, context.DeadlineExceeded, timeout}}},
		{"a silent one yields to a waiting one after its patience", []attempt{
			{0, hang, errYielded, patience}, {100 * time.Millisecond, ok, nil, patience}}},
		{"a waiter arriving late takes over at once", []attempt{
			{0, hang, errYielded, 3 * patience}, {3 * patience, ok, nil, 3 * patience}}},
		{"a quick one never yields", []attempt{
			{0, ok, nil, 0}, {100 * time.Millisecond, ok, nil, 100 * time.Millisecond}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := newTurns(patience)
				t0 := time.Now()
				errs := make([]error, len(tc.attempts))
				ended := make([]time.Duration, len(tc.attempts))
				for i, a := range tc.attempts {
					go func() {
						time.Sleep(a.start)
						errs[i] = tr.resume(context.Background(), timeout, a.do)
						ended[i] = time.Since(t0)
					}()
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				for i, a := range tc.attempts {
					if !errors.Is(errs[i], a.err) || (a.err == nil) != (errs[i] == nil) || ended[i] != a.endedAt {
						t.Errorf("attempt %d: %v at %v, want %v at %v", i, errs[i], ended[i], a.err, a.endedAt)
					}
				}
			})
		})
	}
}
