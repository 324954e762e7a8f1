package censor

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A UDP flow is every datagram between one client address and the route's upstream,
// until it has been idle for UDPIdle. Policies judge its first datagram, as censors
// that read QUIC Initials do, and a datagramsJudge its next few too.
type udpFlow struct {
	c    *Censor
	rt   *route
	info Flow
	up   *net.UDPConn // nil when the first datagram was blocked
	up1  *tokenBucket // client→server policing, nil for none
	down *tokenBucket

	lastSeen          atomic.Int64 // unix nanoseconds
	c2s, s2c, dropped atomic.Int64
	timer             *time.Timer

	// pending are the judges still reading the flow's client datagrams; only the
	// route's reading goroutine touches them, and the three fields after.
	pending []pendingJudge
	// holding keeps the client's datagrams from the upstream while the mitm policy
	// reads the ClientHello: an interception must not let the Initial through.
	holding bool
	held    [][]byte
	// mitm is the censor's own QUIC server once the flow is intercepted.
	mitm *flowPacketConn

	mu      sync.Mutex
	stopped bool
	ended   chan struct{}
}

// pendingJudge is a policy that has not yet judged a flow from the datagrams so far.
type pendingJudge struct {
	policy Policy
	next   func(d []byte) (Verdict, string)
}

// udpRoute is the flows of one UDP route, by client address.
type udpRoute struct {
	mu    sync.Mutex
	flows map[netip.AddrPort]*udpFlow
}

func (c *Censor) serveUDP(rt *route) {
	defer c.wg.Done()
	ur := &udpRoute{flows: make(map[netip.AddrPort]*udpFlow)}
	buf := make([]byte, 64<<10)
	for {
		n, from, err := rt.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if isClosedErr(err) {
				return
			}
			continue // an ICMP error for an earlier datagram, say
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		ur.mu.Lock()
		f := ur.flows[from]
		ur.mu.Unlock()
		if f == nil {
			if f = c.newUDPFlow(rt, ur, from, buf[:n]); f == nil {
				continue
			}
		} else {
			f.judgeNext(buf[:n])
		}
		f.fromClient(buf[:n])
	}
}

// newUDPFlow judges a new client's first datagram and starts its flow; nil when the
// censor is closing.
func (c *Censor) newUDPFlow(rt *route, ur *udpRoute, from netip.AddrPort, first []byte) *udpFlow {
	f := &udpFlow{c: c, rt: rt, ended: make(chan struct{})}
	f.info = rt.flow(c.nextID.Add(1), from)
	f.lastSeen.Store(time.Now().UnixNano())
	ps := *c.policies.Load()
	v, by := c.judgeConnect(ps, f.info)
	if !v.blocks() {
		v, by = c.judge(ps, f.info, func(p Policy) (Verdict, string) {
			if j, ok := p.(datagramsJudge); ok {
				next := j.judgeDatagrams(c, f.info)
				if next == nil {
					return "", ""
				}
				v, reason := next(first)
				if v == undecided {
					f.pending = append(f.pending, pendingJudge{policy: p, next: next})
					return "", ""
				}
				return v, reason
			}
			if j, ok := p.(datagramJudge); ok {
				return j.judgeDatagram(c, f.info, first)
			}
			return "", ""
		})
	}
	f.holding = slices.ContainsFunc(f.pending, func(j pendingJudge) bool { _, ok := j.policy.(*MITM); return ok })
	if v.blocks() {
		f.stopped = true
	} else if up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(f.info.Upstream)); err != nil {
		c.log.Info("upstream unreachable; dropping the flow", "flow", f.info.String(), "err", err)
		f.stopped = true
	} else {
		f.up = up
		sh := c.shapingFor(ps, f.info)
		f.up1, f.down = sh.up(), sh.down()
	}
	if !c.track(f.info.ID, f) {
		if f.up != nil {
			f.up.Close()
		}
		return nil
	}
	ur.mu.Lock()
	ur.flows[from] = f
	ur.mu.Unlock()
	f.mu.Lock()
	f.timer = time.AfterFunc(c.udpIdle, f.expire)
	f.mu.Unlock()
	if m, ok := by.(*MITM); ok && v == Intercepted {
		f.startMITM(m)
	}
	go func() {
		defer c.untrack(f.info.ID)
		defer func() {
			ur.mu.Lock()
			if ur.flows[from] == f {
				delete(ur.flows, from)
			}
			ur.mu.Unlock()
		}()
		f.relayDown()
	}()
	return f
}

func (f *udpFlow) isStopped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped
}

// judgeNext gives a client datagram after the first to the judges still reading the
// flow; the first that blocks stops the flow, this datagram included.
func (f *udpFlow) judgeNext(d []byte) {
	if len(f.pending) == 0 {
		return
	}
	pending := f.pending
	f.pending = nil
	if f.isStopped() {
		return
	}
	for _, j := range pending {
		v, reason := j.next(d)
		switch {
		case v == undecided:
			f.pending = append(f.pending, j)
		case v == "":
		default:
			f.c.decisions.add(j.policy.Name(), f.info, v, reason)
			if v.blocks() {
				f.mu.Lock()
				f.stopped = true
				f.mu.Unlock()
				f.pending = nil
				return
			}
			if m, ok := j.policy.(*MITM); ok && v == Intercepted {
				f.startMITM(m)
			}
		}
	}
	if f.holding && f.mitm == nil && !slices.ContainsFunc(f.pending, func(j pendingJudge) bool { _, ok := j.policy.(*MITM); return ok }) {
		// Not intercepted after all: what was held goes on to the upstream.
		f.holding = false
		for _, d := range f.held {
			f.fromClient(d)
		}
		f.held = nil
	}
}

// startMITM hands the flow to the censor's own QUIC server, with the datagrams held
// so far; the client's later ones follow it there.
func (f *udpFlow) startMITM(m *MITM) {
	pc := newFlowPacketConn(f.rt.pc, f.info.Client)
	f.mu.Lock()
	f.mitm = pc // end reads it under the lock; the route's goroutine alone writes it
	f.mu.Unlock()
	for _, d := range f.held {
		pc.deliver(d)
	}
	f.holding, f.held = false, nil
	go f.interceptQUIC(m, pc)
}

func (f *udpFlow) fromClient(d []byte) {
	f.lastSeen.Store(time.Now().UnixNano())
	switch {
	case f.mitm != nil:
		f.mitm.deliver(d)
		return
	case f.holding:
		f.held = append(f.held, append([]byte(nil), d...))
		return
	}
	if f.isStopped() || (f.up1 != nil && !f.up1.allow(len(d))) {
		f.dropped.Add(int64(len(d)))
		return
	}
	if n, err := f.up.Write(d); err == nil {
		f.c2s.Add(int64(n))
	}
}

// relayDown relays the upstream's datagrams to the client until the flow ends.
func (f *udpFlow) relayDown() {
	if f.up == nil {
		<-f.ended
		return
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := f.up.Read(buf)
		if err != nil {
			select {
			case <-f.ended:
				return
			default:
				continue // ICMP port unreachable from a server not yet up
			}
		}
		f.lastSeen.Store(time.Now().UnixNano())
		if f.isStopped() || (f.down != nil && !f.down.allow(n)) {
			f.dropped.Add(int64(n))
			continue
		}
		if n, err := f.rt.pc.WriteToUDPAddrPort(buf[:n], f.info.Client); err == nil {
			f.s2c.Add(int64(n))
		}
	}
}

// expire ends the flow once it has been idle for UDPIdle.
func (f *udpFlow) expire() {
	idle := time.Since(time.Unix(0, f.lastSeen.Load()))
	if idle < f.c.udpIdle {
		f.mu.Lock()
		f.timer.Reset(f.c.udpIdle - idle)
		f.mu.Unlock()
		return
	}
	f.end()
}

func (f *udpFlow) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	select {
	case <-f.ended:
		return
	default:
	}
	close(f.ended)
	if f.timer != nil {
		f.timer.Stop()
	}
	if f.mitm != nil {
		f.mitm.Close()
	}
	if f.up != nil {
		f.up.Close()
	}
}

func (f *udpFlow) status() FlowStatus {
	return FlowStatus{Flow: f.info, Stopped: f.isStopped(), ClientToServer: f.c2s.Load(), ServerToClient: f.s2c.Load(), Dropped: f.dropped.Load()}
}

// kill stops relaying; UDP has no reset, so both modes are silent. The flow's entry
// stays until it is idle, so the client's later datagrams stay dropped.
func (f *udpFlow) kill(mode KillMode) {
	if mode == killClose {
		f.end()
		return
	}
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
}
