package tlskit

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	utls "github.com/refraction-networking/utls"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

// maxFrag bounds frag=: a TLS record is at most 16 KiB, so larger segments split nothing.
const maxFrag = 1 << 14

// ErrHandshake is wrapped when the TCP connection was made but the TLS handshake failed.
var ErrHandshake = errors.New("TLS handshake failed")

// ClientArgs are the bridge-line arguments NewClient reads; a transport that carries
// its stream over TLS accepts them alongside its own.
var ClientArgs = []string{ArgServerName, ArgFP, ArgFrag, trust.PinArg}

// A Client makes the browser-mimicking TLS handshakes of everything of ours that speaks
// TLS over TCP (the utls, webtunnel, websocket and meek transports), so fingerprints,
// server names, ClientHello fragmentation and the check of the server's certificate
// live in one place. It is safe for concurrent use.
type Client struct {
	serverName string
	profile    *profile
	frag       int
	verifier   trust.Verifier
}

// NewClient reads servername=, fp=, frag= and pin= from args: the server name (SNI);
// the browser, FPChrome (the default), FPFirefox, FPSafari or FPRandom; the ClientHello's
// fragmentation (0, the default, sends it whole; 1 cuts it into TCP segments of random
// sizes; N ≥ 2 into N-byte segments); and the base64url SHA-256 of the server's key, or
// several separated by commas (see package trust). host is the server name to use when
// servername= is absent; it must then be a DNS name, since browsers send no SNI for an
// IP and a hello with one in it would stand out. The server's certificate must match
// pin= or, without one, chain to roots (nil: the system's) for the server name.
// Errors about an argument are *transports.ArgError.
func NewClient(host string, args transports.Args, roots *x509.CertPool) (*Client, error) {
	serverName := args.Get(ArgServerName, "")
	if serverName == "" {
		if net.ParseIP(host) != nil {
			return nil, &transports.ArgError{Key: ArgServerName, Err: fmt.Errorf("%w: the address %s is an IP, so the TLS server name must be given", transports.ErrMissingArg, host)}
		}
		serverName = host
	}
	if net.ParseIP(serverName) != nil {
		return nil, &transports.ArgError{Key: ArgServerName, Err: fmt.Errorf("want a DNS name, got the IP %s", serverName)}
	}
	p, err := profileFor(args.Get(ArgFP, FPChrome))
	if err != nil {
		return nil, &transports.ArgError{Key: ArgFP, Err: err}
	}
	frag, err := args.Int(ArgFrag, 0, 0, maxFrag)
	if err != nil {
		return nil, err
	}
	if p.hello != nil {
		// Build one spec now so a broken embedded capture fails at load, not per dial.
		if _, err := p.spec(serverName); err != nil {
			return nil, err
		}
	}
	v := trust.Verifier{ServerName: serverName, Roots: roots}
	if pin, ok := args[trust.PinArg]; ok {
		if v.Pins, err = trust.ParsePins(pin); err != nil {
			return nil, &transports.ArgError{Key: trust.PinArg, Err: err}
		}
	}
	return &Client{serverName: serverName, profile: p, frag: frag, verifier: v}, nil
}

// ServerName is the SNI the client sends.
func (c *Client) ServerName() string { return c.serverName }

// Fingerprint names the browser whose ClientHello the client sends.
func (c *Client) Fingerprint() string { return c.profile.name }

// Dial connects to addr over TCP and runs Handshake. On error nothing is left open.
func (c *Client) Dial(ctx context.Context, addr string) (conn net.Conn, alpn string, err error) {
	raw, err := transports.DialTCP(ctx, addr)
	if err != nil {
		return nil, "", err
	}
	if conn, alpn, err = c.Handshake(ctx, raw); err != nil {
		raw.Close()
		return nil, "", err
	}
	return conn, alpn, nil
}

// Handshake runs a TLS handshake over raw, offering the browser's own ALPN list (h2 and
// http/1.1 for Chrome; a hello without h2 is not Chrome's), and returns the TLS conn
// and the protocol the server chose. On error the caller still owns raw and closes it.
//
// A server whose certificate is refused gets what Chromium sends it (BrowserAlert,
// and nothing more once the caller closes raw), and the error wraps a *trust.Error.
// The session layer above would not be fooled by a censor's certificate (it pins
// the gateway's Ed25519 key), but a client that went on after one would show the
// censor a non-browser: a browser aborts there.
func (c *Client) Handshake(ctx context.Context, raw net.Conn) (conn net.Conn, alpn string, err error) {
	carrier := raw
	if c.frag > 0 {
		carrier = &fragConn{Conn: raw, size: c.frag}
	}
	ab := &abortConn{Conn: carrier}
	uc, err := c.client(ctx, ab)
	if err != nil {
		return nil, "", err
	}
	transports.TLSHandshakeStart(ctx, c.serverName, c.traceJA4)
	if err := uc.HandshakeContext(ctx); err != nil {
		if ab.refused.Load() {
			drainReceived(raw)
		}
		err = fmt.Errorf("server name %s, fingerprint %s: %w: %w", c.serverName, c.profile.name, ErrHandshake, transports.ContextError(ctx, err))
		transports.TLSHandshakeDone(ctx, err)
		return nil, "", err
	}
	transports.TLSHandshakeDone(ctx, nil)
	return uc, uc.ConnectionState().NegotiatedProtocol, nil
}

// traceJA4 is JA4 for a trace, which has no use for the error: a profile whose hello
// cannot be built fails the handshake itself.
func (c *Client) traceJA4() string {
	ja4, _ := c.JA4()
	return ja4
}

func (c *Client) client(ctx context.Context, ab *abortConn) (*utls.UConn, error) {
	cfg := &utls.Config{
		ServerName: c.serverName,
		// utls's own check is off so that VerifyConnection decides, with the
		// bridge line's pin=, and so that a refusal ends as a browser's does.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs utls.ConnectionState) error {
			if err := c.verifier.Verify(cs.PeerCertificates); err != nil {
				WaitBeforeRefusal(ctx)
				ab.refuse(cs.Version, cs.CipherSuite)
				return err
			}
			ab.forget()
			return nil
		},
		KeyLogWriter: keyLog{ab},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	carrier := net.Conn(ab)
	if c.profile.hello == nil {
		return utls.UClient(carrier, cfg, c.profile.builtin), nil
	}
	spec, err := c.profile.spec(c.serverName)
	if err != nil {
		return nil, err
	}
	uc := utls.UClient(carrier, cfg, utls.HelloCustom)
	if err := uc.ApplyPreset(spec); err != nil {
		return nil, fmt.Errorf("apply %s ClientHello: %w", c.profile.name, err)
	}
	return uc, nil
}

// JA4 is the JA4 fingerprint of the ClientHellos the client sends (see ParseClientHello),
// from one hello built and not sent: what varies per connection (GREASE values, Chrome's
// order of extensions, key shares, fragmentation) leaves JA4 as it is.
func (c *Client) JA4() (string, error) {
	uc, err := c.client(context.Background(), &abortConn{})
	if err != nil {
		return "", err
	}
	if err := uc.BuildHandshakeState(); err != nil {
		return "", fmt.Errorf("build %s ClientHello: %w", c.profile.name, err)
	}
	h, err := ParseClientHelloMessage(uc.HandshakeState.Hello.Raw)
	if err != nil {
		return "", err
	}
	return h.JA4(), nil
}
