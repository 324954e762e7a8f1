package dns

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrTunnelLost is wrapped by a carrier's Read and Write errors when its tunnel ended
// under it: the gateway no longer knows it (it answered NXDOMAIN, after a restart or
// a long silence), the resolver connection broke, or on the gateway the client went
// quiet for idleTimeout.
var ErrTunnelLost = errors.New("DNS tunnel lost")

// A tunnel is the client's end of one carrier's DNS tunnel, and the packet conn its KCP
// session runs over: packets KCP writes go out in the names of queries, and packets in
// the answers come out of ReadFrom.
type tunnel struct {
	id       clientID
	domain   string // the zone, canonical
	mask     *masker
	rc       resolverConn
	kind     resolverKind
	capacity int // packet bytes a query carries, each with its length byte

	up    chan []byte   // KCP's packets, for queries
	down  chan []byte   // packets from answers, for ReadFrom
	slot  chan struct{} // signalled when a query in flight is answered or lost
	polls chan struct{} // requests for a poll now
	heard chan struct{} // closed by the first answer carrying packets
	gone  chan struct{} // closed when the tunnel ends

	carry []byte // a packet that did not fit the last query; the sender's alone

	mu         sync.Mutex // guards the fields below
	pending    map[string]*sentQuery
	limit      float64   // queries allowed in flight
	threshold  float64   // where limit's slow start ends
	shrunk     time.Time // when a loss last halved limit
	window     func(int) // gives KCP's send window limit's value
	delay      time.Duration
	err        error
	heardOnce  bool
	closed     bool
	failsEarly int // SERVFAIL answers before the tunnel was heard
	loops      sync.WaitGroup
}

// servfailsToGiveUp is how many SERVFAIL answers, before any answer from the gateway,
// make a dial give up. One is not enough: a resolver answers SERVFAIL when its query
// to the gateway timed out, which a busy gateway or a lossy path causes now and then,
// while a domain that is not delegated fails every query at once.
const servfailsToGiveUp = 3

// A sentQuery is a query awaiting its answer, by its name.
type sentQuery struct {
	nonce [nonceSize]byte
	poll  bool // it carried no packets
	timer *time.Timer
}

func newTunnel(domain string, rc resolverConn, kind resolverKind) *tunnel {
	t := &tunnel{
		domain:    canonical(domain),
		mask:      newMasker(domain),
		rc:        rc,
		kind:      kind,
		capacity:  nameCapacity(canonical(domain)) - upHeader,
		up:        make(chan []byte, 2*kcpWindow),
		down:      make(chan []byte, 2*kcpWindow),
		slot:      make(chan struct{}, 1),
		polls:     make(chan struct{}, maxInflight),
		limit:     initInflight,
		threshold: slowStartEnd,
		heard:     make(chan struct{}),
		gone:      make(chan struct{}),
		pending:   make(map[string]*sentQuery),
		delay:     minPollDelay,
	}
	rand.Read(t.id[:])
	t.loops.Go(t.sendLoop)
	t.loops.Go(t.recvLoop)
	return t
}

// mtu is the largest packet KCP may hand the tunnel.
func (t *tunnel) mtu() int { return t.capacity - 1 }

// take removes the query called name from those in flight: answered when ok, else
// lost, and adapts the number allowed in flight.
func (t *tunnel) take(name string, answered bool) *sentQuery {
	t.mu.Lock()
	sq, ok := t.pending[name]
	delete(t.pending, name)
	before := int(t.limit)
	switch {
	case !ok:
	case answered && t.limit < t.threshold:
		t.limit = min(t.limit+1, maxInflight) // slow start: doubling each round trip
	case answered:
		t.limit = min(t.limit+1/t.limit, maxInflight)
	case time.Since(t.shrunk) > queryTimeout/2:
		// Once per burst of losses: the queries lost together were one event.
		t.limit = max(t.limit/2, minInflight)
		t.threshold, t.shrunk = t.limit, time.Now()
	}
	window, after := t.window, int(t.limit)
	t.mu.Unlock()
	if window != nil && after != before {
		window(after)
	}
	if !ok {
		return nil
	}
	sq.timer.Stop()
	select {
	case t.slot <- struct{}{}:
	default:
	}
	return sq
}

// lost gives up on the answer to the query called name.
func (t *tunnel) lost(name string) { t.take(name, false) }

func (t *tunnel) recvLoop() {
	for {
		raw, err := t.rc.Recv()
		if err != nil {
			t.fail(fmt.Errorf("resolver: %w", err))
			return
		}
		a, err := parseAnswer(raw)
		if err != nil {
			continue // not an answer to us: a resolver's stray or a forgery
		}
		// A resolver that answers SERVFAIL gave up on the gateway, or is overloaded:
		// as for a lost query, fewer in flight.
		sq := t.take(a.name, a.rcode != rcodeServFail)
		if sq == nil {
			continue // late: its query timed out, or a duplicate
		}
		if err := t.answered(sq, a); err != nil {
			t.fail(err)
			return
		}
	}
}

// servfailEarly counts a SERVFAIL answer before the tunnel was heard, and returns how
// many there have been.
func (t *tunnel) servfailEarly() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failsEarly++
	return t.failsEarly
}

// answered acts on the answer a to the query sq.
func (t *tunnel) answered(sq *sentQuery, a answer) error {
	switch {
	case a.rcode == rcodeNoError:
	case a.rcode == rcodeNXDomain && a.soa != t.domain:
		return fmt.Errorf("%w: the resolver answered NXDOMAIN for names under %s (from zone %q): is it delegated to the gateway?", ErrResolver, t.domain, a.soa)
	case a.rcode == rcodeNXDomain && t.hasHeard():
		return fmt.Errorf("%w: the gateway does not know this tunnel (NXDOMAIN)", ErrTunnelLost)
	case a.rcode == rcodeNXDomain:
		// The gateway has not seen the tunnel's first packet yet: the resolver put a
		// later query before it, as resolvers may.
		return nil
	default:
		if !t.hasHeard() && (a.rcode != rcodeServFail || t.servfailEarly() >= servfailsToGiveUp) {
			return fmt.Errorf("%w: the resolver answered %s: is %s delegated to the gateway, and does the resolver serve this network?", ErrResolver, rcodeName(a.rcode), t.domain)
		}
		return nil // the resolver's trouble: as a lost query
	}
	packets, err := unpackDown(t.mask, sq.nonce, a.payload)
	if err != nil || len(packets) == 0 {
		if sq.poll {
			t.backOff()
		}
		t.park()
		return nil
	}
	data := false
	for _, p := range packets {
		data = data || carriesData(p)
		select {
		case t.down <- p:
		default: // full: dropped, KCP sends it again
		}
	}
	t.mu.Lock()
	t.delay = minPollDelay
	if !t.heardOnce {
		t.heardOnce = true
		close(t.heard)
	}
	t.mu.Unlock()
	if data {
		t.poll()
		if len(a.payload) >= bigAnswer {
			t.poll()
		}
	}
	t.park()
	return nil
}

func (t *tunnel) hasHeard() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.heardOnce
}

// fail ends the tunnel for err; ReadFrom returns it, wrapped.
func (t *tunnel) fail(err error) {
	t.mu.Lock()
	if t.err == nil && !t.closed {
		t.err = err
	}
	t.mu.Unlock()
	t.Close()
}

// Err is why the tunnel ended; nil while it runs or after a plain Close.
func (t *tunnel) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// ReadFrom returns the next packet from the gateway.
func (t *tunnel) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-t.down:
		return copy(b, p), t.rc.RemoteAddr(), nil
	case <-t.gone:
		if err := t.Err(); err != nil {
			return 0, nil, err
		}
		return 0, nil, net.ErrClosed
	}
}

// WriteTo queues a packet for the next query.
func (t *tunnel) WriteTo(b []byte, _ net.Addr) (int, error) {
	if isDone(t.gone) {
		return 0, net.ErrClosed
	}
	if len(b) > t.mtu() {
		return 0, fmt.Errorf("%d-byte packet: %w", len(b), errTooLong)
	}
	select {
	case t.up <- append([]byte(nil), b...):
	default: // full: dropped, KCP sends it again
	}
	return len(b), nil
}

// Close ends the tunnel: no more queries, the resolver conn closed.
func (t *tunnel) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.gone)
	for name, sq := range t.pending {
		sq.timer.Stop()
		delete(t.pending, name)
	}
	t.mu.Unlock()
	t.rc.Close()
	return nil
}

func (t *tunnel) LocalAddr() net.Addr              { return t.rc.LocalAddr() }
func (t *tunnel) SetDeadline(time.Time) error      { return nil }
func (t *tunnel) SetReadDeadline(time.Time) error  { return nil }
func (t *tunnel) SetWriteDeadline(time.Time) error { return nil }
