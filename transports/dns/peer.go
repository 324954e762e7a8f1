package dns

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// A peer is one client's tunnel on the server, and the packet conn its KCP session
// runs over: the packets of the client's queries come out of ReadFrom, and what
// WriteTo queues goes back in the answers to its next queries.
//
// A query that finds nothing to send is held for up to holdTime, so that what the
// session writes next goes back at once instead of waiting for the client's next poll.
// Only the newest query is held: when another comes, the one held is answered (with
// whatever is queued, or empty), so a client that sends many queries, each carrying
// data, gets each answered promptly and its resolver never waits on more than one.
type peer struct {
	id      clientID
	local   net.Addr
	mask    *masker
	hold    time.Duration
	in      chan []byte   // packets from the client, for ReadFrom
	gone    chan struct{} // closed by Close
	onClose func()        // takes the peer out of the server's table

	closeOnce sync.Once

	mu       sync.Mutex // guards the fields below
	out      [][]byte   // packets for the client, oldest first
	held     *heldQuery
	lastSeen time.Time
}

// A heldQuery is a tunnel query waiting for packets to answer with.
type heldQuery struct {
	q     *tunnelQuery
	send  func([]byte)
	timer *time.Timer
}

// Queue bounds, in packets. A full queue drops, as a full UDP socket buffer does, and
// KCP sends again: the windows (kcpWindow) keep it from happening in a healthy tunnel.
const (
	inQueue  = 2 * kcpWindow
	outQueue = 2 * kcpWindow
)

func newPeer(id clientID, local net.Addr, mask *masker, hold time.Duration, onClose func()) *peer {
	return &peer{
		id: id, local: local, mask: mask, hold: hold, onClose: onClose,
		in:       make(chan []byte, inQueue),
		gone:     make(chan struct{}),
		lastSeen: time.Now(),
	}
}

// query takes one query of the client's: its packets go to KCP, and its answer goes
// now, or when packets come, or after holdTime.
func (p *peer) query(q *tunnelQuery, send func([]byte)) {
	for _, pkt := range q.up.packets {
		select {
		case p.in <- pkt:
		default: // full: dropped, KCP sends it again
		}
	}
	var replies []reply
	p.mu.Lock()
	p.lastSeen = time.Now()
	if h := p.held; h != nil {
		p.held = nil
		h.timer.Stop()
		replies = append(replies, p.answer(h))
	}
	h := &heldQuery{q: q, send: send}
	if len(p.out) > 0 || p.closed() {
		replies = append(replies, p.answer(h))
	} else {
		h.timer = time.AfterFunc(p.hold, func() { p.expire(h) })
		p.held = h
	}
	p.mu.Unlock()
	sendAll(replies)
}

// expire answers h, empty, if it is still the query held.
func (p *peer) expire(h *heldQuery) {
	p.mu.Lock()
	if p.held != h {
		p.mu.Unlock()
		return
	}
	p.held = nil
	r := p.answer(h)
	p.mu.Unlock()
	sendAll([]reply{r})
}

// A reply is a packed response and where it goes.
type reply struct {
	msg  []byte
	send func([]byte)
}

func sendAll(rs []reply) {
	for _, r := range rs {
		if r.msg != nil {
			r.send(r.msg)
		}
	}
}

// answer packs the response to h with as many queued packets as fit. When the next
// packet does not fit at all (a resolver that offers little room over UDP), the
// response is truncated, so the resolver asks again over TCP. It holds mu.
func (p *peer) answer(h *heldQuery) reply {
	room := h.q.room()
	var take [][]byte
	used := 0
	for len(p.out) > 0 && used+downFrame+len(p.out[0]) <= room {
		used += downFrame + len(p.out[0])
		take = append(take, p.out[0])
		p.out[0] = nil
		p.out = p.out[1:]
	}
	var msg []byte
	var err error
	if len(take) == 0 && len(p.out) > 0 {
		msg, err = h.q.truncated()
	} else {
		msg, err = h.q.pack(packDown(p.mask, h.q.up.nonce, take))
	}
	if err != nil {
		msg = nil // cannot happen: the sizes were checked; the resolver will ask again
	}
	return reply{msg: msg, send: h.send}
}

// idleSince reports when the client last sent a query.
func (p *peer) idleSince() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastSeen
}

func (p *peer) closed() bool {
	select {
	case <-p.gone:
		return true
	default:
		return false
	}
}

// ReadFrom returns the next packet from the client.
func (p *peer) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case pkt := <-p.in:
		return copy(b, pkt), p.id, nil
	case <-p.gone:
		return 0, nil, fmt.Errorf("tunnel %s: %w", p.id, ErrTunnelLost)
	}
}

// WriteTo queues a packet for the client and answers the query held, if any.
func (p *peer) WriteTo(b []byte, _ net.Addr) (int, error) {
	if p.closed() {
		return 0, net.ErrClosed
	}
	pkt := append([]byte(nil), b...)
	p.mu.Lock()
	if len(p.out) >= outQueue {
		p.mu.Unlock()
		return len(b), nil // dropped, as a full socket buffer drops
	}
	p.out = append(p.out, pkt)
	var r reply
	if h := p.held; h != nil {
		p.held = nil
		h.timer.Stop()
		r = p.answer(h)
	}
	p.mu.Unlock()
	sendAll([]reply{r})
	return len(b), nil
}

// Close ends the tunnel: the query held is answered empty, and ReadFrom fails. The
// tunnel leaves the server's table before ReadFrom fails, so a carrier that has seen
// its tunnel end knows that the next query for it gets NXDOMAIN.
func (p *peer) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		h := p.held
		p.held = nil
		p.out = nil
		var r reply
		if h != nil {
			h.timer.Stop()
			r = p.answer(h)
		}
		p.mu.Unlock()
		sendAll([]reply{r})
		p.onClose()
		close(p.gone)
	})
	return nil
}

func (p *peer) LocalAddr() net.Addr              { return p.local }
func (p *peer) SetDeadline(time.Time) error      { return nil }
func (p *peer) SetReadDeadline(time.Time) error  { return nil }
func (p *peer) SetWriteDeadline(time.Time) error { return nil }
