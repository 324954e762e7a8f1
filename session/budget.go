package session

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// A gateway's sessions hold bytes for their peers: what a stream received and its app
// has not read, and what a session sent and the client has not acknowledged (kept
// while detached, for a resume). A Budget bounds the sum over the sessions sharing it,
// and when it runs short the session holding the most pays, never the others.

// slowWindow is the stream window of a slowed session: two records, so a message of
// any size still flows while the session holds no more than that per stream.
const slowWindow = 2 * chunkSize

// ErrOverBudget is why a gateway session ended that held the most buffered bytes when
// the gateway's memory budget ran out.
var ErrOverBudget = fmt.Errorf("%w: it held the most buffered bytes when the gateway's memory budget ran out", ErrClosed)

// Budget bounds the bytes buffered by every gateway session that shares it: stream
// receive buffers, retransmit buffers, and those of detached sessions. Bytes are
// counted in the 16 KiB chunks that hold them, so the count is the memory.
//
// Past half the limit the budget is tight: no stream window grows, and a session
// holding more than its fair share (limit / sessions) is slowed: its streams get a
// window of 32 KiB, its sends wait while 64 KiB are unacknowledged, and it may open no
// stream. Past the limit, the sessions holding the most are closed, one at a time,
// until the rest fit; a session within its fair share is never closed. Slowing first
// gives a well-behaved session that is large for a moment the time to drain; a peer
// that neither reads nor acknowledges does not drain, and is the one closed.
type Budget struct {
	limit atomic.Int64
	used  atomic.Int64
	peak  atomic.Int64
	count atomic.Int64 // live accounts, for the fair share

	slowed, closed, refusedRate, refusedMemory atomic.Uint64

	onSlowed func(ID) // see NewBudget

	mu       sync.Mutex
	accounts map[*account]struct{}
	doomed   []*account // closed for the budget, their bytes not yet released
	seq      uint64
}

// BudgetStats is a Budget's state, for metrics.
type BudgetStats struct {
	// Limit and Used are bytes; Peak is the most Used has been.
	Limit, Used, Peak int64
	// Slowed counts the times a session became slowed, Closed the sessions closed
	// for the budget.
	Slowed, Closed uint64
	// RefusedRate counts stream opens refused for coming too fast, RefusedMemory
	// those refused to a slowed session.
	RefusedRate, RefusedMemory uint64
}

// NewBudget returns a budget of limit bytes (at least one chunk). onSlowed, if not
// nil, is told (in a goroutine of its own) each time a session becomes slowed.
func NewBudget(limit int64, onSlowed func(ID)) *Budget {
	b := &Budget{accounts: make(map[*account]struct{}), onSlowed: onSlowed}
	b.limit.Store(max(limit, chunkSize))
	return b
}

// SetLimit changes the limit (a SIGHUP reload); if the sessions now hold more, the
// heaviest are closed until they fit.
func (b *Budget) SetLimit(limit int64) {
	b.limit.Store(max(limit, chunkSize))
	b.reclaim()
}

// Stats returns the budget's state now.
func (b *Budget) Stats() BudgetStats {
	return BudgetStats{
		Limit: b.limit.Load(), Used: b.used.Load(), Peak: b.peak.Load(),
		Slowed: b.slowed.Load(), Closed: b.closed.Load(),
		RefusedRate: b.refusedRate.Load(), RefusedMemory: b.refusedMemory.Load(),
	}
}

// open starts an account for session id; end closes the session, and is called at
// most once, in a goroutine of its own, if the budget closes it.
func (b *Budget) open(id ID, end func(error)) *account {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	a := &account{b: b, id: id, end: end, seq: b.seq}
	b.accounts[a] = struct{}{}
	b.count.Store(int64(len(b.accounts)))
	return a
}

// reclaim closes the heaviest sessions until what the others hold fits the limit.
// Bytes of sessions already closed for it count as freed: they are, within moments.
func (b *Budget) reclaim() {
	b.mu.Lock()
	defer b.mu.Unlock()
	limit := b.limit.Load()
	var freeing int64
	for _, d := range b.doomed {
		freeing += d.held.Load()
	}
	for b.used.Load()-freeing > limit {
		victim := b.heaviestLocked(limit)
		if victim == nil {
			return
		}
		victim.doomed.Store(true)
		delete(b.accounts, victim)
		b.count.Store(int64(len(b.accounts)))
		b.doomed = append(b.doomed, victim)
		freeing += victim.held.Load()
		b.closed.Add(1)
		go victim.end(ErrOverBudget)
	}
}

// heaviestLocked returns the account holding the most, if it holds more than its fair
// share; of equals, the newest.
func (b *Budget) heaviestLocked(limit int64) *account {
	var top *account
	var most int64
	for a := range b.accounts {
		h := a.held.Load()
		if top == nil || h > most || (h == most && a.seq > top.seq) {
			top, most = a, h
		}
	}
	if top == nil || most <= limit/int64(len(b.accounts)) {
		return nil
	}
	return top
}

func (b *Budget) notePeak(used int64) {
	for {
		p := b.peak.Load()
		if used <= p || b.peak.CompareAndSwap(p, used) {
			return
		}
	}
}

// account is one session's part of a Budget. A nil account (a client, or a gateway
// session without a budget) counts nothing and is never slowed.
type account struct {
	b      *Budget
	id     ID
	end    func(error)
	seq    uint64
	held   atomic.Int64
	slow   atomic.Bool // slowed when last asked: counts each time it becomes so once
	doomed atomic.Bool // closed for the budget: whatever arrives now is dropped
}

// take counts n bytes that entered one of the session's buffers.
func (a *account) take(n int) {
	if a == nil {
		return
	}
	a.held.Add(int64(n))
	used := a.b.used.Add(int64(n))
	a.b.notePeak(used)
	if used > a.b.limit.Load() {
		a.b.reclaim()
	}
}

// give counts n bytes that left the session's buffers.
func (a *account) give(n int) {
	if a == nil {
		return
	}
	a.held.Add(-int64(n))
	a.b.used.Add(-int64(n))
}

// tight reports whether the budget is past half its limit: no window grows then.
func (a *account) tight() bool {
	return a != nil && 2*a.b.used.Load() > a.b.limit.Load()
}

// slowed reports whether the session must hold back: the budget is tight and the
// session holds more than its fair share, or it is being closed for the budget.
func (a *account) slowed() bool {
	if a == nil {
		return false
	}
	if a.doomed.Load() {
		return true
	}
	b := a.b
	limit := b.limit.Load()
	slow := 2*b.used.Load() > limit && a.held.Load() > limit/max(b.count.Load(), 1)
	if a.slow.Swap(slow) != slow && slow {
		b.slowed.Add(1)
		if b.onSlowed != nil {
			go b.onSlowed(a.id)
		}
	}
	return slow
}

// dropping reports whether the session is being closed for the budget, so that data
// arriving for it is dropped instead of held.
func (a *account) dropping() bool { return a != nil && a.doomed.Load() }

// refused counts a stream open refused: for its rate, or to a slowed session.
func (a *account) refused(forMemory bool) {
	switch {
	case a == nil:
	case forMemory:
		a.b.refusedMemory.Add(1)
	default:
		a.b.refusedRate.Add(1)
	}
}

// close takes the account out of the budget when its session ends. Bytes it still
// holds stay counted until their buffers release them.
func (a *account) close() {
	if a == nil {
		return
	}
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.accounts, a)
	b.count.Store(int64(len(b.accounts)))
	b.doomed = slices.DeleteFunc(b.doomed, func(d *account) bool { return d == a })
}
