package pt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// checkListen checks method=, the address, and that the method's program is there to
// run, without running it.
func (t *Transport) checkListen(cfg transports.ListenConfig) error {
	method, _, err := methodArg(cfg.Args)
	if err != nil {
		return err
	}
	if _, err := bindAddr(cfg.Addr); err != nil {
		return err
	}
	program, err := t.program(method)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath(program); err != nil {
		return fmt.Errorf("method %s: program: %w", method, err)
	}
	return nil
}

// listen runs the method's server program on cfg.Addr in front of an internal
// loopback port (its TOR_PT_ORPORT), and accepts what the program relays there.
// cfg.Args holds method= and the program's server options
// (TOR_PT_SERVER_TRANSPORT_OPTIONS, e.g. iat-mode= for obfs4). The program keeps its
// keys in cfg.StateDir, so its bridge arguments survive a restart.
func (t *Transport) listen(ctx context.Context, cfg transports.ListenConfig) (*listener, error) {
	method, options, err := methodArg(cfg.Args)
	if err != nil {
		return nil, err
	}
	bind, err := bindAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	program, err := t.program(method)
	if err != nil {
		return nil, err
	}
	state, cleanup, err := stateDir(cfg.StateDir, "server-"+method)
	if err != nil {
		return nil, err
	}
	orLn, err := transports.ListenTCP(ctx, "127.0.0.1:0")
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("internal port: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = t.log
	}
	l := &listener{
		orLn:    orLn,
		method:  method,
		program: program,
		log:     log.With("method", method),
		timeout: t.cfg.StartTimeout,
		cleanup: cleanup,
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.env = append(managedEnv(state),
		"TOR_PT_SERVER_TRANSPORTS="+method,
		"TOR_PT_ORPORT="+orLn.Addr().String(),
		"TOR_PT_SERVER_TRANSPORT_OPTIONS="+serverOptions(method, options))
	sm, err := l.start(ctx, bind)
	if err == nil {
		var ap netip.AddrPort
		if ap, err = netip.ParseAddrPort(sm.addr); err == nil {
			l.addr = net.TCPAddrFromAddrPort(ap)
		} else {
			l.child.stop()
		}
	}
	if err != nil {
		l.cancel()
		orLn.Close()
		cleanup()
		return nil, err
	}
	l.args = sm.args.Clone()
	l.args[argMethod] = method
	go l.supervise(l.addr.String())
	return l, nil
}

// bindAddr checks addr for TOR_PT_SERVER_BINDADDR, which wants a literal IP; an empty
// host means all IPv4 interfaces.
func bindAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return "", errors.New("a PT program binds an IP address, not a host name")
	}
	return net.JoinHostPort(host, port), nil
}

// listener is a server program in front of the internal port orLn.
type listener struct {
	orLn    net.Listener
	method  string
	program string
	env     []string
	log     *slog.Logger
	timeout time.Duration
	cleanup func()

	addr *net.TCPAddr    // where the program listens, from its SMETHOD line
	args transports.Args // method= and the SMETHOD line's ARGS

	ctx    context.Context // ends at Close
	cancel context.CancelFunc

	mu      sync.Mutex
	child   *child
	conns   int  // accepted conns still open
	closing bool // Close was called
	stopped bool // the program was stopped for good
}

// start runs the program bound to bind and returns its SMETHOD line.
func (l *listener) start(ctx context.Context, bind string) (message, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	env := append(l.env[:len(l.env):len(l.env)], "TOR_PT_SERVER_BINDADDR="+l.method+"-"+bind)
	c, methods, err := startChild(ctx, l.program, env, "SMETHODS", l.log)
	if err != nil {
		return message{}, err
	}
	for _, m := range methods {
		if m.method != l.method {
			continue
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.closing {
			go c.stop()
			return message{}, net.ErrClosed
		}
		l.child = c
		return m, nil
	}
	c.stop()
	return message{}, fmt.Errorf("%s: no SMETHOD %s line", c.program, l.method)
}

// supervise restarts the program if it dies before Close, on the address it
// reported, so the bridge line printed stays valid.
func (l *listener) supervise(bind string) {
	backoff := time.Second
	for {
		l.mu.Lock()
		c := l.child
		l.mu.Unlock()
		select {
		case <-c.exited:
		case <-l.ctx.Done():
			return
		}
		for {
			select {
			case <-time.After(backoff):
			case <-l.ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Minute)
			_, err := l.start(l.ctx, bind)
			if err == nil {
				l.log.Info("restarted PT server program")
				break
			}
			l.log.Error("restarting PT server program failed", "err", err, "retry_in", backoff)
		}
	}
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.orLn.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns++
	l.mu.Unlock()
	return &serverConn{Conn: c, l: l}, nil
}

// Addr is where the program listens: the address in bridge lines.
func (l *listener) Addr() net.Addr { return l.addr }

// BridgeArgs are method= and what the program's SMETHOD line gave (obfs4's cert= and
// iat-mode=).
func (l *listener) BridgeArgs() transports.Args { return l.args.Clone() }

// Close stops accepting. The program is told to stop accepting too (SIGINT) and is
// stopped once the last accepted conn closes, so sessions can drain.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return nil
	}
	l.closing = true
	l.cancel()
	c := l.child
	l.mu.Unlock()
	err := l.orLn.Close()
	c.interrupt()
	l.stopIfIdle()
	return err
}

// stopIfIdle stops the program for good once the listener is closed and no accepted
// conn is open.
func (l *listener) stopIfIdle() {
	l.mu.Lock()
	if !l.closing || l.conns > 0 || l.stopped {
		l.mu.Unlock()
		return
	}
	l.stopped = true
	c := l.child
	l.mu.Unlock()
	go func() {
		c.stop()
		l.cleanup()
	}()
}

// serverConn is a conn the program relayed. Like the client's, it has no CloseWrite.
type serverConn struct {
	net.Conn
	l    *listener
	once sync.Once
}

func (c *serverConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.conns--
		c.l.mu.Unlock()
		c.l.stopIfIdle()
	})
	return err
}
