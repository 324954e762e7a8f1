package utls

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

type dialer struct {
	addr string
	tls  *tlskit.Client
}

func newDialer(addr string, args transports.Args, roots *x509.CertPool) (*dialer, error) {
	if err := args.Unknown(tlskit.ClientArgs...); err != nil {
		return nil, err
	}
	if err := transports.CheckHostPort(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	tc, err := tlskit.NewClient(host, args, roots)
	if err != nil {
		return nil, err
	}
	return &dialer{addr: addr, tls: tc}, nil
}

func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	conn, _, err := d.tls.Dial(ctx, d.addr)
	if err != nil {
		return nil, fmt.Errorf("%s: dial %s: %w", Name, d.addr, err)
	}
	return conn, nil
}
