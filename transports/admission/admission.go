// Package admission bounds what a listener holds before a peer is a session, so that a
// flood of idle or junk connections cannot fill it: a fixed number of handshake places
// per listener, where a newcomer takes the place of an old idle peer (the flood's) of
// the source holding the most, and a cap on the peers held in silence after a rejection.
// It is shared by the gateway and the transports that run handshakes of their own.
package admission

import (
	"container/list"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config fields left 0.
const (
	// DefaultSlots is how many peers one listener takes in at once before they are
	// sessions. A real client's handshake lasts a few round trips, so a newcomer only
	// pushes one out when more than this many others arrived during it.
	DefaultSlots = 1024
	// DefaultHold is the shortest silence a peer that failed gets: it is closed at a
	// random time in [Hold, 2·Hold) after accept, drawn per connection, so that the
	// close time says nothing about the gateway (obfs4proxy's per-bridge constant
	// does, Frolov et al., NDSS 2020).
	DefaultHold = 10 * time.Second
)

// Why a pool dropped a peer, as OnDrop reports it.
const (
	// ReasonEvicted: a newer arrival took the peer's handshake place.
	ReasonEvicted = "evicted"
	// ReasonHeldFull: a rejected peer was closed before its time, because the
	// gateway held too many.
	ReasonHeldFull = "held_full"
)

// Config is a Pool's setup.
type Config struct {
	// Slots bounds the peers in a handshake at once; 0 means DefaultSlots.
	Slots int
	// Hold is the shortest silence of a rejected raw peer; 0 means DefaultHold.
	Hold time.Duration
	// Held caps the rejected peers the gateway holds, across its listeners; nil
	// means no cap.
	Held *Held
	// Sources groups peers by a keyed hash of their address, for fairness; nil puts
	// every peer in one group.
	Sources *Sources
	// OnDrop is called for each peer the pool drops, with a Reason; nil counts
	// nothing. It must not block.
	OnDrop func(reason string)
}

// Pool is one listener's handshake places. The nil *Pool bounds nothing, for a
// transport used without a gateway (its tests).
type Pool struct {
	slots   int
	hold    atomic.Int64 // time.Duration
	held    *Held
	sources *Sources
	onDrop  func(string)

	mu      sync.Mutex
	order   list.List      // *Ticket, oldest admission first
	buckets map[uint64]int // tickets per source group
}

// NewPool returns a pool set up by cfg.
func NewPool(cfg Config) *Pool {
	p := &Pool{slots: cfg.Slots, held: cfg.Held, sources: cfg.Sources, onDrop: cfg.OnDrop, buckets: map[uint64]int{}}
	if p.slots <= 0 {
		p.slots = DefaultSlots
	}
	if p.onDrop == nil {
		p.onDrop = func(string) {}
	}
	p.SetHold(cfg.Hold)
	return p
}

// SetHold changes the shortest silence for peers rejected from now on; 0 means
// DefaultHold.
func (p *Pool) SetHold(d time.Duration) {
	if d <= 0 {
		d = DefaultHold
	}
	p.hold.Store(int64(d))
}

// CloseAt is when a peer accepted at accepted that did not open a session is to be
// closed: a random time in [Hold, 2·Hold) after accept, drawn afresh for each peer.
func (p *Pool) CloseAt(accepted time.Time) time.Time {
	hold := DefaultHold
	if p != nil {
		hold = time.Duration(p.hold.Load())
	}
	return accepted.Add(hold + rand.N(hold))
}

// Ticket is one peer's handshake place. Its methods are safe on a nil *Ticket, which
// a nil Pool hands out.
type Ticket struct {
	pool   *Pool
	elem   *list.Element // nil once released or evicted
	bucket uint64
	evict  func()

	// Guarded by pool.mu.
	active  bool
	evicted bool
}

// Admit takes in conn, just accepted, for its handshake. A full pool makes room by
// evicting another peer: an idle one (it sent nothing yet) before an active one, from
// the source group holding the most places, the oldest first; the newcomer itself is
// always admitted, so a flood cannot keep new clients out. evict must end the evicted
// peer's handshake at once (cancel it, or set a past deadline); it is called once,
// without locks held, and the peer then gets what a peer that failed gets.
func (p *Pool) Admit(conn net.Conn, evict func()) *Ticket {
	if p == nil {
		return nil
	}
	t := &Ticket{pool: p, bucket: p.sources.Bucket(conn.RemoteAddr()), evict: evict}
	p.mu.Lock()
	var victim *Ticket
	if p.order.Len() >= p.slots {
		victim = p.victimLocked()
		victim.evicted = true
		p.removeLocked(victim)
	}
	t.elem = p.order.PushBack(t)
	p.buckets[t.bucket]++
	p.mu.Unlock()
	if victim != nil {
		p.onDrop(ReasonEvicted)
		victim.evict()
	}
	return t
}

// victimLocked picks the ticket a newcomer pushes out. One pass over at most Slots
// tickets, oldest first, so ties go to the oldest.
func (p *Pool) victimLocked() *Ticket {
	var best *Ticket
	for e := p.order.Front(); e != nil; e = e.Next() {
		t := e.Value.(*Ticket)
		if best == nil || p.worseLocked(t, best) {
			best = t
		}
	}
	return best
}

// worseLocked reports whether a is a better victim than b: idle before active, then
// from the larger source group.
func (p *Pool) worseLocked(a, b *Ticket) bool {
	if a.active != b.active {
		return !a.active
	}
	return p.buckets[a.bucket] > p.buckets[b.bucket]
}

func (p *Pool) removeLocked(t *Ticket) {
	p.order.Remove(t.elem)
	t.elem = nil
	if p.buckets[t.bucket]--; p.buckets[t.bucket] <= 0 {
		delete(p.buckets, t.bucket)
	}
}

// Len is how many peers hold a place now.
func (p *Pool) Len() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.order.Len()
}

// Active records that the peer sent its first bytes: it is no longer idle, and goes
// after the idle ones when room is needed.
func (t *Ticket) Active() {
	if t == nil {
		return
	}
	t.pool.mu.Lock()
	t.active = true
	t.pool.mu.Unlock()
}

// Release gives the place back, at the end of the handshake either way, and reports
// whether the peer had been evicted (its handshake failed for that reason). Calls
// after the first report the same.
func (t *Ticket) Release() (evicted bool) {
	if t == nil {
		return false
	}
	p := t.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.elem != nil {
		p.removeLocked(t)
	}
	return t.evicted
}

// Hold counts a rejected peer among those the gateway holds. drop ends the hold early
// the way it would end anyway (a raw peer's read deadline set to now, so that it is
// closed after what it sent was read; a web peer's conn closed); it is called at most
// once, when the cap is reached and this is the oldest hold. release must be called
// when the peer is closed. ok is false when the gateway is draining: close the peer
// at once.
func (p *Pool) Hold(drop func()) (release func(), ok bool) {
	if p == nil {
		return func() {}, true
	}
	return p.held.add(drop, p.onDrop)
}
