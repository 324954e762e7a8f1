package transporttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// defects are the ways the lab transport can be told to break the contract, one
// per check the suite must catch.
type defects struct {
	ignoreReadDeadline     bool  // SetReadDeadline and SetDeadline leave reads alone
	corruptAfter           int64 // Write flips a bit once this many bytes have gone (0: never)
	dialIgnoresCtx         bool  // Dial connects without its context
	acceptBlocksAfterClose bool  // Accept on a closed listener never returns
	acceptErrNotClosed     bool  // Accept on a closed listener returns its own error
	leakPerConn            bool  // every accepted conn leaves a goroutine behind
	noCloseWrite           bool  // conns have no CloseWrite
	writeAfterClose        bool  // Write after Close pretends to succeed
	closeKillsConns        bool  // listener Close closes the conns it accepted
	serialHandshake        bool  // Accept waits for a hello byte from each conn in turn
}

// lab is plain TCP with optional defects: a transport the suite must pass when it has
// none, and fail in the right place when it has one.
type lab struct{ defects }

func (l lab) listen() (transports.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &labListener{Listener: ln, d: l.defects, never: make(chan struct{})}, nil
}

func (l lab) dialer(addr string) transports.Dialer { return &labDialer{addr: addr, d: l.defects} }

type labDialer struct {
	addr string
	d    defects
}

func (d *labDialer) Dial(ctx context.Context) (net.Conn, error) {
	if d.d.dialIgnoresCtx {
		ctx = context.Background()
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		// The socket's copy of ctx's deadline can fire before ctx's own timer.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return nil, fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return nil, err
	}
	if d.d.serialHandshake {
		if _, err := c.Write([]byte{1}); err != nil {
			c.Close()
			return nil, err
		}
	}
	return wrap(c, d.d), nil
}

type labListener struct {
	net.Listener
	d     defects
	never chan struct{} // what leaked goroutines and blocked Accepts wait on

	mu    sync.Mutex
	conns []net.Conn
}

func (l *labListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		switch {
		case l.d.acceptBlocksAfterClose:
			<-l.never
		case l.d.acceptErrNotClosed:
			return nil, errors.New("lab listener is shut")
		}
		return nil, err
	}
	if l.d.serialHandshake {
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			c.Close()
			return nil, err
		}
	}
	if l.d.leakPerConn {
		go func() { <-l.never }()
	}
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
	return wrap(c, l.d), nil
}

func (l *labListener) Close() error {
	err := l.Listener.Close()
	if l.d.closeKillsConns {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, c := range l.conns {
			c.Close()
		}
	}
	return err
}

func (l *labListener) BridgeArgs() transports.Args { return transports.Args{} }

type labConn struct {
	*net.TCPConn
	d       defects
	written atomic.Int64
	closed  atomic.Bool
}

func wrap(c net.Conn, d defects) net.Conn {
	lc := &labConn{TCPConn: c.(*net.TCPConn), d: d}
	if d.noCloseWrite {
		return struct{ net.Conn }{lc} // hides CloseWrite
	}
	return lc
}

func (c *labConn) Write(p []byte) (int, error) {
	if c.d.writeAfterClose && c.closed.Load() {
		return len(p), nil
	}
	if n := c.d.corruptAfter; n > 0 {
		before := c.written.Add(int64(len(p))) - int64(len(p))
		if before <= n && n < before+int64(len(p)) {
			p = append([]byte(nil), p...)
			p[n-before] ^= 1
		}
	}
	return c.TCPConn.Write(p)
}

func (c *labConn) Close() error {
	c.closed.Store(true)
	return c.TCPConn.Close()
}

func (c *labConn) SetDeadline(t time.Time) error {
	if c.d.ignoreReadDeadline {
		return c.TCPConn.SetWriteDeadline(t)
	}
	return c.TCPConn.SetDeadline(t)
}

func (c *labConn) SetReadDeadline(t time.Time) error {
	if c.d.ignoreReadDeadline {
		return nil
	}
	return c.TCPConn.SetReadDeadline(t)
}
