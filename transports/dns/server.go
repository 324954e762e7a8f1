package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// Server limits. A query, however formed, costs the server a bounded amount: at most
// maxPeers tunnels, each with bounded queues (inQueue, outQueue) and one held query.
const (
	// holdTime is how long the server holds a query it has nothing to answer with.
	// It stays under the retransmission timeouts resolvers start from (unbound's is
	// 376 ms for a server it has not measured yet), so a held query is answered
	// before the resolver asks again.
	holdTime = 250 * time.Millisecond
	// idleTimeout drops a tunnel whose client sent no query for this long: more than
	// the longest idle poll interval (maxPollDelay) several times over.
	idleTimeout = 60 * time.Second
	// maxPeers bounds the tunnels one listener keeps; a query that would open one
	// more is answered SERVFAIL, as an overloaded server answers.
	maxPeers = 4096
	// acceptBacklog bounds the carriers waiting for Accept.
	acceptBacklog = 64
)

// limits are a listener's bounds: the constants above, which tests shorten.
type limits struct {
	hold     time.Duration
	idle     time.Duration
	maxPeers int
}

var defaultLimits = limits{hold: holdTime, idle: idleTimeout, maxPeers: maxPeers}

// listener is the zone's authoritative server and the carrier listener in one.
type listener struct {
	zone *zone
	udp  net.PacketConn
	tcp  net.Listener
	args transports.Args
	log  *slog.Logger

	limits

	accepted  chan net.Conn
	closing   chan struct{} // closed by Close: no new tunnels
	closeOnce sync.Once
	stopped   chan struct{} // closed once the sockets are closed

	mu    sync.Mutex
	peers map[clientID]*peer
	tcps  map[net.Conn]struct{}
}

// serve starts serving the zone on udp and tcp (which may be nil).
func serve(z *zone, udp net.PacketConn, tcp net.Listener, args transports.Args, log *slog.Logger, lim limits) *listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &listener{
		zone: z, udp: udp, tcp: tcp, args: args, log: log, limits: lim,
		accepted: make(chan net.Conn, acceptBacklog),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
		peers:    make(map[clientID]*peer),
		tcps:     make(map[net.Conn]struct{}),
	}
	go l.readUDP()
	if tcp != nil {
		go l.acceptTCP()
	}
	go l.sweep()
	return l
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case <-l.closing:
		return nil, fmt.Errorf("accept: %w", net.ErrClosed)
	default:
	}
	select {
	case c := <-l.accepted:
		return c, nil
	case <-l.closing:
		return nil, fmt.Errorf("accept: %w", net.ErrClosed)
	}
}

func (l *listener) Addr() net.Addr { return l.udp.LocalAddr() }

func (l *listener) BridgeArgs() transports.Args { return l.args.Clone() }

// Close stops new tunnels; the carriers already accepted go on, and the zone is
// served until the last of them ends.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closing)
		for {
			select {
			case c := <-l.accepted:
				c.Close()
				continue
			default:
			}
			break
		}
		l.stopIfIdle()
	})
	return nil
}

// stopIfIdle closes the sockets once the listener is closed and no tunnel is left.
func (l *listener) stopIfIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.isClosing() || len(l.peers) > 0 || isDone(l.stopped) {
		return
	}
	close(l.stopped)
	l.udp.Close()
	if l.tcp != nil {
		l.tcp.Close()
	}
	for c := range l.tcps {
		c.Close()
	}
}

func (l *listener) readUDP() {
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := l.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // an ICMP error from a past answer: not this socket's problem
		}
		raw := append([]byte(nil), buf[:n]...)
		l.handle(raw, false, func(b []byte) { l.udp.WriteTo(b, addr) })
	}
}

// handle answers one query, now or, for a tunnel query, when its tunnel has packets.
func (l *listener) handle(raw []byte, overTCP bool, send func([]byte)) {
	resp, q := l.zone.classify(raw, overTCP)
	if q == nil {
		if resp != nil {
			send(resp)
		}
		return
	}
	p, rcode := l.peerFor(q)
	if p == nil {
		send(l.zone.negative(q.reply, rcode))
		return
	}
	p.query(q, send)
}

// peerFor returns the tunnel q belongs to, starting it when q opens a KCP
// conversation; otherwise nil and the rcode to answer with.
func (l *listener) peerFor(q *tunnelQuery) (*peer, int) {
	id := q.up.id
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.peers[id]; ok {
		return p, 0
	}
	conv, opens := uint32(0), false
	if len(q.up.packets) > 0 {
		conv, opens = opensConversation(q.up.packets[0])
	}
	switch {
	case !opens:
		return nil, rcodeNXDomain // no such tunnel, or one the server dropped
	case l.isClosing():
		return nil, rcodeNXDomain
	case len(l.peers) >= l.maxPeers || len(l.accepted) >= acceptBacklog:
		return nil, rcodeServFail
	}
	p := newPeer(id, l.udp.LocalAddr(), l.zone.mask, l.hold, func() { l.drop(id) })
	sess, err := newSession(conv, id, p, serverMTU, true)
	if err != nil {
		return nil, rcodeServFail
	}
	l.peers[id] = p
	l.accepted <- newStream(sess, false) // room checked above, under mu
	l.log.Debug("tunnel opened", "tunnels", len(l.peers))
	return p, 0
}

// drop forgets a closed tunnel.
func (l *listener) drop(id clientID) {
	l.mu.Lock()
	delete(l.peers, id)
	l.mu.Unlock()
	l.stopIfIdle()
}

// drained is closed once the listener is closed and its last tunnel has ended.
func (l *listener) drained() <-chan struct{} { return l.stopped }

func (l *listener) isClosing() bool { return isDone(l.closing) }

// isDone reports whether ch is closed.
func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sweep ends the tunnels whose clients went quiet, until the sockets close.
func (l *listener) sweep() {
	t := time.NewTicker(l.idle / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stopped:
			return
		case <-t.C:
		}
		var idle []*peer
		l.mu.Lock()
		for _, p := range l.peers {
			if time.Since(p.idleSince()) > l.idle {
				idle = append(idle, p)
			}
		}
		l.mu.Unlock()
		for _, p := range idle {
			p.Close()
		}
	}
}

// bindAttempts bounds the ports tried when addr's port is 0 and the TCP port beside a
// free UDP port is taken.
const bindAttempts = 8

// bind opens the zone's UDP socket on addr and a TCP listener on the same port, which
// an authoritative server answers on too (RFC 7766).
func bind(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lc net.ListenConfig
	for attempt := 1; ; attempt++ {
		udp, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, err
		}
		tcp, err := lc.Listen(ctx, "tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != "0" || attempt == bindAttempts {
			return nil, nil, fmt.Errorf("TCP on the UDP socket's port: %w", err)
		}
	}
}
