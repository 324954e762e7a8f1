package dns

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"time"

	kcp "github.com/xtaci/kcp-go/v5"
)

// Polling. The client sends a query whenever KCP has packets, and polls (queries
// carrying nothing) so the gateway can answer with what it has: at once while data
// flows, then less and less often as the tunnel idles.
const (
	// maxInflight bounds the queries awaiting an answer: it caps the tunnel's rate
	// (that many answers per round trip) and what one client asks of a resolver. The
	// tunnel starts from initInflight and adapts in between, as TCP's window does:
	// one more per answer up to slowStartEnd (doubling each round trip), then one
	// more per window of answers, and half as many when a query goes unanswered (a
	// resolver drops queries when too many are in flight: unbound past its
	// num-queries-per-thread, 1024 by default, which 32 tunnels of 64 overran).
	maxInflight  = 32
	initInflight = 8
	slowStartEnd = 16
	minInflight  = 2
	// minPollDelay is the idle poll interval right after data flowed; it doubles with
	// each empty answer up to maxPollDelay.
	minPollDelay = 50 * time.Millisecond
	// maxPollDelay is the poll interval of an idle tunnel: how late, at worst, a
	// message the gateway sends an idle client arrives.
	maxPollDelay = 5 * time.Second
	// queryTimeout gives up on a query's answer: long enough for a resolver's own
	// retransmissions (unbound's timeouts grow from 376 ms), short enough that lost
	// queries do not hold maxInflight's places for long.
	queryTimeout = 4 * time.Second
	// bigAnswer is an answer so full that the gateway likely has more: it earns two
	// polls instead of one, so the queries in flight grow while the gateway has data.
	bigAnswer = 512
)

func (t *tunnel) sendLoop() {
	// No poll before the first packet: the gateway knows the tunnel by its first
	// packet (the greeting) and answers NXDOMAIN to queries before it.
	var first []byte
	select {
	case <-t.gone:
		return
	case first = <-t.up:
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if !t.waitSlot() {
			return
		}
		if err := t.send(t.gather(first)); err != nil {
			t.fail(fmt.Errorf("send a query: %w", err))
			return
		}
		timer.Reset(t.pollDelay())
		first = nil
		select {
		case <-t.gone:
			return
		case first = <-t.up:
		case <-t.polls:
		case <-timer.C:
		}
	}
}

// followLimit makes KCP's send window follow the queries allowed in flight.
func (t *tunnel) followLimit(s *kcp.UDPSession) {
	t.mu.Lock()
	t.window = func(n int) { s.SetWindowSize(n, 0) }
	n := int(t.limit)
	t.mu.Unlock()
	s.SetWindowSize(n, 0)
}

// waitSlot waits until one more query may be in flight; false once the tunnel ends.
func (t *tunnel) waitSlot() bool {
	for {
		t.mu.Lock()
		free := len(t.pending) < int(t.limit)
		t.mu.Unlock()
		if free {
			return true
		}
		select {
		case <-t.slot:
		case <-t.gone:
			return false
		}
	}
}

// gather returns first and the packets queued behind it, as many as fit one query.
func (t *tunnel) gather(first []byte) [][]byte {
	var packets [][]byte
	used := 0
	add := func(p []byte) bool {
		if used+1+len(p) > t.capacity {
			t.carry = p
			return false
		}
		packets = append(packets, p)
		used += 1 + len(p)
		return true
	}
	if c := t.carry; c != nil {
		t.carry = nil
		add(c)
	}
	if first != nil && !add(first) {
		return packets
	}
	for t.carry == nil {
		select {
		case p := <-t.up:
			add(p)
		default:
			return packets
		}
	}
	return packets
}

// send sends one query carrying packets; it is in flight until its answer comes or
// it times out.
func (t *tunnel) send(packets [][]byte) error {
	var nonce [nonceSize]byte
	rand.Read(nonce[:])
	name, err := encodeName(t.mask, t.domain, nonce, t.id, packets)
	if err != nil {
		return err
	}
	var id uint16
	if t.kind != overHTTPS {
		id = uint16(mrand.Uint32()) // DoH asks for ID 0 (RFC 8484 section 4.1)
	}
	msg, err := buildQuery(name, id, t.kind != overUDP)
	if err != nil {
		return err
	}
	key := canonical(name)
	sq := &sentQuery{nonce: nonce, poll: len(packets) == 0}
	t.mu.Lock()
	t.pending[key] = sq
	sq.timer = time.AfterFunc(queryTimeout, func() { t.lost(key) })
	if len(packets) > 0 {
		t.delay = minPollDelay
	}
	t.mu.Unlock()
	return t.rc.Send(msg)
}

// poll asks the sender for a poll now.
func (t *tunnel) poll() {
	select {
	case t.polls <- struct{}{}:
	default:
	}
}

// park keeps one query at the gateway while the tunnel is active: once none is in
// flight, a poll goes at once, for the gateway to hold and answer with what it sends
// next (an echo, a reply) instead of waiting for the next poll interval.
func (t *tunnel) park() {
	t.mu.Lock()
	idle := len(t.pending) == 0 && t.delay == minPollDelay
	t.mu.Unlock()
	if idle {
		t.poll()
	}
}

// backOff lengthens the idle poll interval after a poll whose answer carried nothing.
// Empty answers to queries that carried packets do not count: while the tunnel sends,
// most answers are empty, and a poll must still follow soon once KCP waits for the
// gateway's acknowledgements.
func (t *tunnel) backOff() {
	t.mu.Lock()
	t.delay = min(2*t.delay, maxPollDelay)
	t.mu.Unlock()
}

func (t *tunnel) pollDelay() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.delay
}
