package utls

import (
	"context"
	"errors"
	"fmt"
	"net"

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
}

func newDialer(addr string, args transports.Args) (*dialer, error) {
	if err := args.Unknown(argServerName, argFP, argFrag); err != nil {
		return nil, err
	}
	if err := transports.CheckHostPort(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
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
	return &dialer{addr: addr, serverName: serverName, profile: p, frag: frag}, nil
}

// ErrHandshake is wrapped when the TCP connection was made but the TLS handshake failed.
var ErrHandshake = errors.New("TLS handshake failed")

func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	raw, err := transports.DialTCP(ctx, d.addr)
	if err != nil {
		return nil, fmt.Errorf("%s: dial %s: %w", Name, d.addr, err)
	}
	var carrier net.Conn = raw
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
		return nil, fmt.Errorf("%s: dial %s (server name %s, fingerprint %s): %w: %w", Name, d.addr, d.serverName, d.profile.name, ErrHandshake, transports.ContextError(ctx, err))
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
