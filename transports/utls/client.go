package utls

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	utls "github.com/refraction-networking/utls"

	"github.com/umbrella-edge/edge/transports"
)

// maxFrag bounds frag=: a TLS record is at most 16 KiB, so larger segments split nothing.
const maxFrag = 1 << 14

type dialer struct {
	addr       string
	serverName string
	profile    *profile
	frag       int
	net        net.Dialer
}

func newDialer(addr string, args transports.Args) (*dialer, error) {
	if err := args.Unknown(argServerName, argFP, argFrag); err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return nil, fmt.Errorf("bridge address %q: want host:port with a port in 1..65535", addr)
	}
	serverName := args.Get(argServerName, "")
	if serverName == "" {
		if net.ParseIP(host) != nil {
			return nil, &transports.ArgError{Key: argServerName, Err: fmt.Errorf("%w: the address %s is an IP, so the TLS server name must be given", transports.ErrMissingArg, host)}
		}
		serverName = host
	}
	if net.ParseIP(serverName) != nil {
		// Browsers send no SNI for an IP; a hello with an IP in it would stand out.
		return nil, &transports.ArgError{Key: argServerName, Err: fmt.Errorf("want a DNS name, got the IP %s", serverName)}
	}
	p, err := profileFor(args.Get(argFP, FPChrome))
	if err != nil {
		return nil, &transports.ArgError{Key: argFP, Err: err}
	}
	frag, err := args.Int(argFrag, 0, 0, maxFrag)
	if err != nil {
		return nil, err
	}
	if p.hello != nil {
		// Build one spec now so a broken embedded capture fails at load, not per dial.
		if _, err := p.spec(serverName); err != nil {
			return nil, err
		}
	}
	return &dialer{addr: addr, serverName: serverName, profile: p, frag: frag, net: net.Dialer{KeepAliveConfig: keepalive}}, nil
}

// ErrHandshake is wrapped when the TCP connection was made but the TLS handshake failed.
var ErrHandshake = errors.New("TLS handshake failed")

func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	raw, err := d.net.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("%s: dial %s: %w", Name, d.addr, withContextErr(ctx, err))
	}
	carrier := raw
	if d.frag > 0 {
		carrier = &fragConn{Conn: raw, size: d.frag}
	}
	uc, err := d.client(carrier)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("%s: dial %s: %w", Name, d.addr, err)
	}
	if err := uc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("%s: dial %s (server name %s, fingerprint %s): %w: %w", Name, d.addr, d.serverName, d.profile.name, ErrHandshake, withContextErr(ctx, err))
	}
	return uc, nil
}

func (d *dialer) client(carrier net.Conn) (*utls.UConn, error) {
	cfg := &utls.Config{
		ServerName: d.serverName,
		// The certificate is not checked here on purpose: the session layer above pins
		// the gateway's Ed25519 identity and signs the key exchange with it, so a CDN or
		// a national CA that presents its own certificate still cannot impersonate the
		// gateway, and operators may use self-signed certificates.
		InsecureSkipVerify: true,
		NextProtos:         []string{"h2", "http/1.1"},
	}
	if d.profile.hello == nil {
		return utls.UClient(carrier, cfg, d.profile.builtin), nil
	}
	spec, err := d.profile.spec(d.serverName)
	if err != nil {
		return nil, err
	}
	uc := utls.UClient(carrier, cfg, utls.HelloCustom)
	if err := uc.ApplyPreset(spec); err != nil {
		return nil, fmt.Errorf("apply %s ClientHello: %w", d.profile.name, err)
	}
	return uc, nil
}

// withContextErr makes err match ctx's error under errors.Is when ctx has ended, so a
// caller can tell a cancelled dial from a failed one. net.Dialer arms the socket with
// ctx's deadline, which can fire a moment before ctx's own timer and give a bare
// "i/o timeout"; a deadline already passed counts as ctx's.
func withContextErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(dl) {
		cerr = context.DeadlineExceeded
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}
