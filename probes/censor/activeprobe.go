package censor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// ActiveProbe probes the server of each new TCP flow, as the GFW does to suspected
// proxies (Alice et al., IMC 2020): it replays the client's first payload and sends
// random-length probes of random bytes, and blocks the server's address (new flows
// and running ones) if any probe meets a reaction an unrelated server would not show.
// A reaction is what Frolov et al. (NDSS 2020) classify: data, FIN, RST or timeout.
type ActiveProbe struct {
	Scope
	// Reference is the unrelated server each probe is also sent to. Zero means one
	// the censor runs: it reads and discards and never answers, like most servers
	// that do not speak the probe's protocol.
	Reference netip.AddrPort
	// Wait is how long a probe waits for a reaction; 0 means 5 s.
	Wait time.Duration
	// Random is how many random probes follow the replay; 0 means 3, negative none.
	Random int
	// After is how long after the client's first payload the probes start; 0 means
	// 1 s. The GFW's probes come seconds to minutes after the connection it saw
	// (Alice et al. 2020); starting at once would race the client's own payload to the
	// server, and a replay that won would look like the server answering a stranger.
	After time.Duration

	mu       sync.Mutex
	flagged  map[netip.AddrPort]string // server → why
	inFlight map[netip.AddrPort]bool
}

const (
	probeWait   = 5 * time.Second
	probeAfter  = time.Second
	probeRandom = 3
	// probeMaxLen bounds a random probe's length; Alice et al. saw random probes of
	// up to about a thousand bytes.
	probeMaxLen = 1000
)

func parseActiveProbe(args transports.Args, s Scope) (*ActiveProbe, error) {
	if err := args.Unknown("ref", "wait", "random", "after"); err != nil {
		return nil, err
	}
	p := &ActiveProbe{Scope: s}
	if v := args.Get("ref", ""); v != "" {
		ap, err := netip.ParseAddrPort(v)
		if err != nil {
			return nil, &transports.ArgError{Key: "ref", Err: fmt.Errorf("want the reference server's IP:PORT, got %q", v)}
		}
		p.Reference = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	var err error
	if p.Wait, err = duration(args, "wait", probeWait); err != nil {
		return nil, err
	}
	if p.After, err = duration(args, "after", 0); err != nil {
		return nil, err
	}
	if p.Random, err = args.Int("random", probeRandom, 0, 100); err != nil {
		return nil, err
	}
	if p.Random == 0 {
		p.Random = -1
	}
	return p, nil
}

func (*ActiveProbe) Name() string { return "active-probe" }

func (p *ActiveProbe) String() string {
	ref := "" // the censor's own
	if p.Reference.IsValid() {
		ref = p.Reference.String()
	}
	return spec("active-probe", p.Scope, "ref", ref, "wait", p.wait().String(), "random", strconv.Itoa(p.random()), "after", p.after().String())
}

func (p *ActiveProbe) wait() time.Duration {
	if p.Wait <= 0 {
		return probeWait
	}
	return p.Wait
}

func (p *ActiveProbe) after() time.Duration {
	if p.After <= 0 {
		return probeAfter
	}
	return p.After
}

func (p *ActiveProbe) random() int {
	switch {
	case p.Random == 0:
		return probeRandom
	case p.Random < 0:
		return 0
	}
	return p.Random
}

func (p *ActiveProbe) judgeConnect(_ *Censor, f Flow) (Verdict, string) {
	if f.Network != "tcp" {
		return "", ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if why, ok := p.flagged[f.Upstream]; ok {
		return Drop, "server flagged by active probes: " + why
	}
	return "", ""
}

func (p *ActiveProbe) judgePayload(c *Censor, f Flow, fp *firstPayload) (Verdict, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.flagged[f.Upstream]; ok {
		return "", ""
	}
	if p.inFlight[f.Upstream] {
		return Pass, fmt.Sprintf("probes of %s already under way", f.Upstream)
	}
	if p.inFlight == nil {
		p.inFlight = make(map[netip.AddrPort]bool)
	}
	p.inFlight[f.Upstream] = true
	probes := p.probes(fp.data)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		p.run(c, f, probes)
	}()
	return Probed, fmt.Sprintf("replaying the first payload and %d random probes to %s", len(probes)-1, f.Upstream)
}

type probe struct {
	name    string
	payload []byte
}

func (p *ActiveProbe) probes(first []byte) []probe {
	out := []probe{{"replay of the first payload", first}}
	for range p.random() {
		b := make([]byte, 1+mrand.IntN(probeMaxLen))
		rand.Read(b)
		out = append(out, probe{fmt.Sprintf("random %d bytes", len(b)), b})
	}
	return out
}

// run sends every probe to the server and to the reference at once and compares.
func (p *ActiveProbe) run(c *Censor, f Flow, probes []probe) {
	defer func() {
		p.mu.Lock()
		delete(p.inFlight, f.Upstream)
		p.mu.Unlock()
	}()
	ref := p.Reference
	if !ref.IsValid() {
		var err error
		if ref, err = c.probes.reference(); err != nil {
			c.log.Warn("active-probe: no reference server", "err", err)
			return
		}
	}
	select {
	case <-time.After(p.after()):
	case <-c.ctx.Done():
		return
	}
	server := make([]reaction, len(probes))
	unrelated := make([]reaction, len(probes))
	var wg sync.WaitGroup
	for i, pr := range probes {
		wg.Go(func() { server[i] = c.probes.react(f.Upstream, pr.payload, p.wait()) })
		wg.Go(func() { unrelated[i] = c.probes.react(ref, pr.payload, p.wait()) })
	}
	wg.Wait()
	if c.ctx.Err() != nil {
		return
	}
	for i, pr := range probes {
		if server[i] != unrelated[i] {
			why := fmt.Sprintf("%s: server answered %s, an unrelated server %s", pr.name, server[i], unrelated[i])
			p.mu.Lock()
			if p.flagged == nil {
				p.flagged = make(map[netip.AddrPort]string)
			}
			p.flagged[f.Upstream] = why
			p.mu.Unlock()
			c.decisions.add(p.Name(), f, Drop, why+"; blocking "+f.Upstream.String())
			c.killWhere(func(g Flow) bool { return g.Network == "tcp" && g.Upstream == f.Upstream && p.covers(g) },
				KillSilent, p.Name(), "server "+f.Upstream.String()+" flagged by active probes")
			return
		}
	}
	c.decisions.add(p.Name(), f, Pass, fmt.Sprintf("all %d probes met the reactions of an unrelated server", len(probes)))
}

// A reaction is how a server met a probe (Frolov et al., NDSS 2020).
type reaction string

const (
	reactData    reaction = "data"
	reactFIN     reaction = "FIN"
	reactRST     reaction = "RST"
	reactTimeout reaction = "timeout"
	reactRefused reaction = "refused"
	reactError   reaction = "error"
)

// prober sends the censor's probes and runs its built-in reference server.
type prober struct {
	c *Censor

	once   sync.Once
	ln     net.Listener
	ref    netip.AddrPort
	refErr error
}

func newProber(c *Censor) *prober { return &prober{c: c} }

// react sends payload to addr and classifies the first thing that comes back.
func (p *prober) react(addr netip.AddrPort, payload []byte, wait time.Duration) reaction {
	ctx, cancel := context.WithTimeout(p.c.ctx, p.c.dialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return reactRefused
		}
		return reactError
	}
	defer conn.Close()
	stop := context.AfterFunc(p.c.ctx, func() { conn.Close() })
	defer stop()
	if len(payload) > 0 {
		if _, err := conn.Write(payload); err != nil {
			return classify(0, err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	n, err := conn.Read(make([]byte, 1))
	return classify(n, err)
}

func classify(n int, err error) reaction {
	switch {
	case n > 0:
		return reactData
	case errors.Is(err, io.EOF):
		return reactFIN
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return reactRST
	case errors.Is(err, os.ErrDeadlineExceeded):
		return reactTimeout
	}
	return reactError
}

// reference starts, once, the censor's own unrelated server: it reads and discards
// and never answers.
func (p *prober) reference() (netip.AddrPort, error) {
	p.once.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			p.refErr = fmt.Errorf("reference server: %w", err)
			return
		}
		p.ln, p.ref = ln, ln.Addr().(*net.TCPAddr).AddrPort()
		p.c.wg.Add(1)
		go func() {
			defer p.c.wg.Done()
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer conn.Close()
					io.Copy(io.Discard, conn) // the prober's close ends it
				}()
			}
		}()
	})
	return p.ref, p.refErr
}

func (p *prober) close() {
	p.once.Do(func() {}) // no reference may start after this
	if p.ln != nil {
		p.ln.Close()
	}
}
