package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// resumePatience is how long a carrier may take to resume the session while another
// carrier waits for its turn: a resume is one round trip on a carrier already up, so
// four head starts (themselves at least 3 RTTs on a slow network) is plenty.
func resumePatience(headStart time.Duration) time.Duration { return 4 * headStart }

// errYielded ends a resume that had its patience while another carrier was ready.
var errYielded = errors.New("no answer while another bridge was ready")

// turns lets one carrier at a time resume the session, since a session attaches to one
// carrier; the carriers of a round are dialled in parallel and queue here. A carrier
// that has not resumed within its patience while another waits gives up its turn, so
// one silent bridge (a censor that lets the TCP handshake through and drops the rest)
// cannot hold the others up for a whole handshake timeout.
type turns struct {
	patience time.Duration
	token    chan struct{} // held by the carrier resuming
	waiting  atomic.Int32
	knock    chan struct{} // a carrier started waiting
}

func newTurns(patience time.Duration) *turns {
	return &turns{patience: patience, token: make(chan struct{}, 1), knock: make(chan struct{}, 1)}
}

// resume waits for the turn, then runs do with a context bounded by timeout and by
// the patience rule.
func (t *turns) resume(ctx context.Context, timeout time.Duration, do func(context.Context) error) error {
	t.waiting.Add(1)
	select {
	case t.knock <- struct{}{}:
	default:
	}
	select {
	case t.token <- struct{}{}:
		t.waiting.Add(-1)
	case <-ctx.Done():
		t.waiting.Add(-1)
		return ctx.Err()
	}
	defer func() { <-t.token }()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx, yield := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t.watch(yield, stop)
	}()
	err := do(ctx)
	close(stop)
	<-watched
	if err != nil && context.Cause(ctx) == errYielded {
		return fmt.Errorf("%w (%v)", errYielded, t.patience)
	}
	return err
}

// watch yields the turn once patience has passed and a carrier waits.
func (t *turns) watch(yield context.CancelCauseFunc, stop <-chan struct{}) {
	timer := time.NewTimer(t.patience)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-stop:
		return
	}
	for {
		if t.waiting.Load() > 0 {
			yield(errYielded)
			return
		}
		select {
		case <-t.knock:
		case <-stop:
			return
		}
	}
}
