// Package tcp is the plain TCP transport: the carrier is one TCP connection and nothing
// more, for networks that do not block fully encrypted traffic (the session layer above
// already makes the stream look random). It is not a disguise against a DPI censor.
package tcp

import (
	"context"
	"fmt"
	"net"

	"github.com/umbrella-edge/edge/transports"
)

// Name is the transport's name in bridge lines.
const Name = "tcp"

// New returns the tcp transport. It has no client or server arguments.
func New() transports.Transport { return transports.Define(Name, newDialer, listen, checkListen) }

// newDialer checks addr once, so a bad bridge line fails when it is loaded rather than
// on every dial.
func newDialer(addr string, args transports.Args) (*dialer, error) {
	if err := args.Unknown(); err != nil {
		return nil, err
	}
	if err := transports.CheckHostPort(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	return &dialer{addr: addr}, nil
}

// checkListen refuses any argument: the tcp listener has none.
func checkListen(cfg transports.ListenConfig) error { return cfg.Args.Unknown() }

func listen(ctx context.Context, cfg transports.ListenConfig) (*listener, error) {
	if err := checkListen(cfg); err != nil {
		return nil, err
	}
	ln, err := transports.ListenTCP(ctx, cfg.Addr)
	if err != nil {
		return nil, err
	}
	return &listener{Listener: ln}, nil
}

type dialer struct {
	addr string
}

func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	c, err := transports.DialTCP(ctx, d.addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return c, nil
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
