package pt

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/umbrella-edge/edge/transports"
)

// newDialer checks the bridge line once: method= names a method that a program
// serves, and the method's arguments fit in SOCKS credentials. No program starts yet.
func (t *Transport) newDialer(addr string, args transports.Args) (*dialer, error) {
	if _, err := connectRequest(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	method, own, err := methodArg(args)
	if err != nil {
		return nil, err
	}
	program, err := t.program(method)
	if err != nil {
		return nil, err
	}
	user, pass, err := socksAuth(own)
	if err != nil {
		return nil, err
	}
	return &dialer{t: t, method: method, program: program, addr: addr, user: user, pass: pass}, nil
}

type dialer struct {
	t               *Transport
	method, program string
	addr            string
	user, pass      []byte // the bridge's arguments, as SOCKS credentials
}

// Dial asks the method's program, through its SOCKS5 port, to reach the bridge. The
// program answers once its transport's handshake is done.
func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	p, err := d.t.proxy(d.method, d.program)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	socks, err := p.socksAddr(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", Name, d.method, transports.ContextError(ctx, err))
	}
	// The program's SOCKS port is local: its connect says nothing of the bridge's path.
	c, err := transports.DialTCP(transports.WithTrace(ctx, nil), socks)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", Name, d.method, err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err = socksConnect(c, d.addr, d.user, d.pass)
	if !stop() {
		c.Close()
		return nil, fmt.Errorf("%s: %s: %w", Name, d.method, transports.ContextError(ctx, err))
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %s via %s: %w", Name, d.method, p.name(), err)
	}
	return conn{c}, nil
}

// conn is a carrier through a PT program. It has no CloseWrite: PT programs end both
// directions when one ends (obfs4proxy does), so a half-close would lose the answer.
type conn struct{ net.Conn }

// proxy returns the shared client program for method.
func (t *Transport) proxy(method, program string) (*clientProxy, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	p, ok := t.proxies[method]
	if !ok || p.program != program {
		if ok {
			go p.stop() // the configured program changed
		}
		p = &clientProxy{t: t, method: method, program: program}
		t.proxies[method] = p
	}
	return p, nil
}

// clientProxy is one method's client program, started on demand.
type clientProxy struct {
	t               *Transport
	method, program string

	mu      sync.Mutex
	current *startup
	stopped bool
}

// startup is one run of the program: its start, then its life.
type startup struct {
	done    chan struct{} // closed when the start has succeeded or failed
	child   *child
	socks   string // the CMETHOD address
	err     error
	cleanup func() // removes a per-run state directory
}

// socksAddr returns the running program's SOCKS5 address, starting the program if it
// is not running. Concurrent dials share one start; a dial that gives up does not stop
// it.
func (p *clientProxy) socksAddr(ctx context.Context) (string, error) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return "", ErrClosed
	}
	s := p.current
	if s == nil || s.over() {
		s = p.start()
		p.current = s
	}
	p.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if s.err != nil {
		return "", s.err
	}
	return s.socks, nil
}

// over reports whether a start failed or its program has since exited.
func (s *startup) over() bool {
	select {
	case <-s.done:
		return s.err != nil || !s.child.alive()
	default:
		return false
	}
}

func (p *clientProxy) name() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current != nil && p.current.child != nil {
		return p.current.child.program
	}
	return p.program
}

// start launches the program in the background; the caller holds p.mu.
func (p *clientProxy) start() *startup {
	s := &startup{done: make(chan struct{}), cleanup: func() {}}
	if old := p.current; old != nil {
		if old.err == nil {
			p.t.log.Info("restarting PT client program", "method", p.method)
		}
		old.cleanup()
	}
	go func() {
		defer close(s.done)
		ctx, cancel := context.WithTimeout(p.t.ctx, p.t.cfg.StartTimeout)
		defer cancel()
		state, cleanup, err := stateDir(p.t.cfg.StateDir, "client-"+p.method)
		if err != nil {
			s.err = err
			return
		}
		env := append(managedEnv(state), "TOR_PT_CLIENT_TRANSPORTS="+p.method)
		c, methods, err := startChild(ctx, p.program, env, "CMETHODS", p.t.log.With("method", p.method))
		if err != nil {
			cleanup()
			s.err = err
			return
		}
		s.child, s.cleanup = c, cleanup
		for _, m := range methods {
			if m.method == p.method && m.socks == "socks5" {
				s.socks = m.addr
				return
			}
		}
		c.stop()
		cleanup()
		s.err = fmt.Errorf("%s: no CMETHOD %s socks5 line", c.program, p.method)
	}()
	return s
}

// stop ends the program and waits for a start in progress.
func (p *clientProxy) stop() {
	p.mu.Lock()
	p.stopped = true
	s := p.current
	p.mu.Unlock()
	if s == nil {
		return
	}
	<-s.done
	if s.child != nil {
		s.child.stop()
	}
	s.cleanup()
}
