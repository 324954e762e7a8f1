// Package tcp is the plain TCP transport: the carrier is one TCP connection and nothing
// more, for networks that do not block fully encrypted traffic (the session layer above
// already makes the stream look random). It is not a disguise against a DPI censor.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// Name is the transport's name in bridge lines.
const Name = "tcp"

// Keepalive probes notice a peer that vanished (a phone that lost its network, a NAT
// that dropped the mapping) on an idle carrier, so the gateway frees the socket and the
// client's watchdog is not the only detector. Idle 30s keeps NAT mappings alive on
// mobile networks whose TCP timeouts are a few minutes; 3 probes 10s apart give up on a
// dead peer after about a minute.
var keepalive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}

type transport struct{}

// New returns the tcp transport. It has no client or server arguments.
func New() transports.Transport { return transport{} }

func (transport) Name() string { return Name }

// NewDialer checks addr once, so a bad bridge line fails when it is loaded rather than
// on every dial.
func (transport) NewDialer(addr string, args transports.Args) (transports.Dialer, error) {
	if err := args.Unknown(); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	if err := checkAddr(addr); err != nil {
		return nil, fmt.Errorf("%s: bridge address %q: %w", Name, addr, err)
	}
	return &dialer{addr: addr, net: net.Dialer{KeepAliveConfig: keepalive}}, nil
}

func (transport) Listen(ctx context.Context, cfg transports.ListenConfig) (transports.Listener, error) {
	if err := cfg.Args.Unknown(); err != nil {
		return nil, fmt.Errorf("%s: listen %s: %w", Name, cfg.Addr, err)
	}
	lc := net.ListenConfig{KeepAliveConfig: keepalive}
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return &listener{Listener: ln}, nil
}

// checkAddr accepts host:port with a port in 1..65535; the host may be a name, resolved
// at each dial so a bridge behind changing addresses keeps working.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not in 1..65535", port)
	}
	return nil
}

type dialer struct {
	addr string
	net  net.Dialer
}

func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	c, err := d.net.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		if cerr := ctxErr(ctx); cerr != nil && !errors.Is(err, cerr) {
			return nil, fmt.Errorf("%s: %w: %w", Name, cerr, err)
		}
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	if err := setNoDelay(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: dial %s: %w", Name, d.addr, err)
	}
	return c, nil
}

// ctxErr is ctx's error once ctx has ended or reached its deadline. net.Dialer arms the
// socket with ctx's deadline, and that timer can fire a moment before ctx's own, giving
// a bare "i/o timeout"; callers branch on context.DeadlineExceeded, so it is restored.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

type listener struct {
	net.Listener
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := setNoDelay(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: accept: %w", Name, err)
	}
	return c, nil
}

// BridgeArgs is empty: a tcp bridge line is only an address.
func (l *listener) BridgeArgs() transports.Args { return transports.Args{} }

// setNoDelay turns Nagle off. Go already does for every TCP conn; saying so here keeps
// the property if that default ever changes, because the session's small records
// (acknowledgements, handshake messages) must not wait for a full segment.
func setNoDelay(c net.Conn) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("conn is %T, not *net.TCPConn", c)
	}
	return tc.SetNoDelay(true)
}
