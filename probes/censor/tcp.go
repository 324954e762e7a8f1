package censor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// helloWait bounds how long the censor waits for the rest of a ClientHello that
// spans segments: a client sends its whole hello before it waits for the server.
const helloWait = 3 * time.Second

// maxHelloBytes bounds what the censor buffers of a ClientHello that spans segments: a
// hello's extensions block, its largest part, has a 16-bit length.
const maxHelloBytes = 1 << 16

func (c *Censor) acceptTCP(rt *route) {
	defer c.wg.Done()
	log := c.log.With("route", rt.Name)
	for {
		// A failing accept (out of file descriptors) is retried after a back-off.
		conn, err := transports.Accept(rt.ln, c.done, log)
		if err != nil {
			return
		}
		tc := conn.(*net.TCPConn)
		f := &tcpFlow{c: c, client: tc, stop: make(chan struct{})}
		f.info = rt.flow(c.nextID.Add(1), addrPort(tc.RemoteAddr()))
		if !c.track(f.info.ID, f) {
			tc.Close()
			return
		}
		go func() {
			defer c.untrack(f.info.ID)
			f.run()
		}()
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	if ua, ok := a.(*net.UDPAddr); ok {
		return ua.AddrPort()
	}
	return netip.AddrPort{}
}

// tcpFlow is one client connection and its upstream connection.
type tcpFlow struct {
	c      *Censor
	info   Flow
	client *net.TCPConn

	mu      sync.Mutex
	up      *net.TCPConn // nil until dialled
	stopped bool
	stop    chan struct{} // closed when the flow stops relaying

	frozen            atomic.Bool
	c2s, s2c, dropped atomic.Int64
}

func (f *tcpFlow) status() FlowStatus {
	f.mu.Lock()
	stopped := f.stopped
	f.mu.Unlock()
	return FlowStatus{Flow: f.info, Stopped: stopped, Frozen: f.frozen.Load(),
		ClientToServer: f.c2s.Load(), ServerToClient: f.s2c.Load(), Dropped: f.dropped.Load()}
}

// kill stops the flow: silently (relay nothing, keep sockets open), with resets, or by
// closing both sockets when the censor shuts down.
func (f *tcpFlow) kill(mode KillMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		close(f.stop)
	}
	conns := []*net.TCPConn{f.client, f.up}
	for _, conn := range conns {
		if conn == nil {
			continue
		}
		switch mode {
		case KillSilent:
			// Unblock a relay write in progress; the pumps then only read and discard.
			conn.SetWriteDeadline(time.Now())
		case KillReset:
			conn.SetLinger(0)
			conn.Close()
		default:
			conn.Close()
		}
	}
}

func (f *tcpFlow) isStopped() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}

func (f *tcpFlow) run() {
	c := f.c
	ps := *c.policies.Load()
	if v, _ := c.judgeConnect(ps, f.info); v.blocks() {
		f.kill(killModeOf(v))
		if v == Drop {
			discard(f.client)
		}
		f.client.Close()
		return
	}
	up, err := f.dial()
	if err != nil {
		c.log.Info("upstream unreachable; resetting the client", "flow", f.info.String(), "err", err)
		f.client.SetLinger(0)
		f.client.Close()
		return
	}
	sh := c.shapingFor(ps, f.info)
	var wg sync.WaitGroup
	down := func(client, server net.Conn) {
		wg.Go(func() { f.pump(client, server, &f.s2c, sh.down(), sh.lagDown, sh.freezeAt) })
	}
	// An interception reads the server's TLS itself, so relaying the server's bytes
	// waits for the judgement; otherwise they pass at once, for protocols in which
	// the server speaks first.
	intercepting := mayIntercept(ps, f.info)
	if !intercepting {
		down(f.client, up)
	}
	client, server := f.judgeFirst(ps, up)
	if intercepting {
		down(client, server)
	}
	f.pump(server, client, &f.c2s, sh.up(), sh.lagUp, 0)
	wg.Wait()
	f.kill(killClose)
}

// judgeFirst reads and judges the client's first payload and forwards it if it
// passes. It returns the conns to relay between: the sockets, or the plaintext sides
// of an interception.
func (f *tcpFlow) judgeFirst(ps []Policy, up *net.TCPConn) (client, server net.Conn) {
	fp, err := f.readFirst(ps)
	if fp == nil {
		if err != nil && !errors.Is(err, io.EOF) {
			f.kill(KillReset)
		}
		return f.client, up
	}
	v, by := f.c.judgePayload(ps, f.info, fp)
	switch {
	case v.blocks():
		f.kill(killModeOf(v))
		f.dropped.Add(int64(len(fp.data)))
	case v == Intercepted:
		cs, us, err := f.intercept(by.(*MITM), fp)
		if err == nil {
			return cs, us
		}
		var r *refusal
		if errors.As(err, &r) {
			f.c.decisions.addDecision(Decision{Time: time.Now(), Policy: by.Name(), Flow: f.info,
				Verdict: Refused, Reason: "the client refused the censor's certificate: " + r.reaction.String(), Reaction: &r.reaction})
		}
		f.c.log.Info("interception failed; resetting the flow", "flow", f.info.String(), "err", err)
		f.kill(KillReset)
	default:
		if _, err := up.Write(fp.data); err == nil {
			f.c2s.Add(int64(len(fp.data)))
		}
	}
	return f.client, up
}

// dial connects to the upstream; the censor closing aborts it.
func (f *tcpFlow) dial() (*net.TCPConn, error) {
	ctx, cancel := context.WithTimeout(f.c.ctx, f.c.dialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", f.info.Upstream.String())
	if err != nil {
		return nil, err
	}
	up := conn.(*net.TCPConn)
	f.mu.Lock()
	f.up = up
	stopped := f.stopped
	f.mu.Unlock()
	if stopped {
		up.Close()
		return nil, net.ErrClosed
	}
	return up, nil
}

// readFirst reads the client's first payload, and the rest of a ClientHello that
// spans segments when a policy reads hellos. It returns nil when the client sent
// nothing before closing.
func (f *tcpFlow) readFirst(ps []Policy) (*firstPayload, error) {
	buf := make([]byte, 32<<10)
	n, err := f.client.Read(buf)
	if n == 0 {
		return nil, err
	}
	fp := &firstPayload{first: append([]byte(nil), buf[:n]...)}
	fp.data = fp.first
	hello, herr := tlskit.ParseClientHello(fp.data)
	if errors.Is(herr, tlskit.ErrTruncatedHello) && readsHello(ps, f.info) && err == nil {
		f.client.SetReadDeadline(time.Now().Add(helloWait))
		for errors.Is(herr, tlskit.ErrTruncatedHello) && len(fp.data) < maxHelloBytes+1024 {
			n, err = f.client.Read(buf)
			fp.data = append(fp.data[:len(fp.data):len(fp.data)], buf[:n]...)
			if err != nil {
				break
			}
			hello, herr = tlskit.ParseClientHello(fp.data)
		}
		f.client.SetReadDeadline(time.Time{})
	}
	if hello != nil && (herr == nil || errors.Is(herr, tlskit.ErrTruncatedHello)) {
		fp.hello = hello
	}
	return fp, nil
}

func (c *Censor) judgePayload(ps []Policy, f Flow, fp *firstPayload) (Verdict, Policy) {
	return c.judge(ps, f, func(p Policy) (Verdict, string) {
		if j, ok := p.(payloadJudge); ok {
			return j.judgePayload(c, f, fp)
		}
		return "", ""
	})
}

func readsHello(ps []Policy, f Flow) bool {
	for _, p := range ps {
		if r, ok := p.(helloReader); ok && r.readsHello() && p.scope().covers(f) {
			return true
		}
	}
	return false
}

func mayIntercept(ps []Policy, f Flow) bool {
	for _, p := range ps {
		if _, ok := p.(*MITM); ok && p.scope().covers(f) {
			return true
		}
	}
	return false
}

// pump relays src to dst through the flow's shaping: the policer's bucket, then the
// delay line. Once the flow is stopped, or this direction frozen, it reads and
// discards until src ends, forwarding nothing (no FIN either): the peer sees silence,
// not a close.
func (f *tcpFlow) pump(dst, src net.Conn, count *atomic.Int64, bucket *tokenBucket, l lag, freezeAt int64) {
	buf := make([]byte, 32<<10)
	frozen := false
	write := dst.Write
	var line *delayLine
	if !l.none() {
		line = newDelayLine(l, func(b []byte) error { _, err := dst.Write(b); return err })
		defer line.stop()
		write = func(b []byte) (int, error) {
			if ok, err := line.push(b, true, f.stop); !ok {
				return 0, cmp.Or(err, net.ErrClosed)
			}
			return len(b), nil
		}
	}
	for {
		n, err := src.Read(buf)
		b := buf[:n]
		written := 0
		if frozen || count == &f.s2c && f.frozen.Load() { // by the budget, or by KillFreeze
			b, frozen = nil, true
		} else if sent := count.Load(); freezeAt > 0 && sent+int64(n) >= freezeAt {
			b = b[:freezeAt-sent]
			frozen = true
		}
		for len(b) > 0 && !f.isStopped() {
			k := len(b)
			if bucket != nil {
				if k = bucket.take(len(b), f.stop); k == 0 {
					break
				}
			}
			w, werr := write(b[:k])
			count.Add(int64(w))
			written += w
			if werr != nil {
				if !f.isStopped() {
					f.kill(KillReset) // the peer is gone; tell the other side as TCP would
				}
				break
			}
			b = b[k:]
		}
		f.dropped.Add(int64(n - written))
		if frozen && !f.frozen.Swap(true) {
			f.c.decisions.add("freeze", f.info, Frozen, fmt.Sprintf("server→client frozen after %d bytes", freezeAt))
		}
		if err == nil {
			continue
		}
		switch {
		case f.isStopped() || frozen:
		case errors.Is(err, io.EOF):
			if line != nil && line.drain() != nil {
				return
			}
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		default:
			f.kill(KillReset)
		}
		return
	}
}

// killModeOf is how a blocking verdict cuts a flow.
func killModeOf(v Verdict) KillMode {
	if v == Reset {
		return KillReset
	}
	return KillSilent
}

// discard reads conn until it ends, so a dropped client's bytes vanish without an
// answer or a window that closes.
func discard(conn net.Conn) {
	io.Copy(io.Discard, conn)
}
