// Package dns is the transport for networks shut down to DNS: the carrier is a tunnel
// in queries for names under a domain delegated to the gateway, sent to a recursive
// resolver over plain UDP, DNS over TLS or DNS over HTTPS, with the gateway answering
// as the zone's authoritative server. Its own protocol, in dnstt's manner but not
// dnstt's wire format; docs/deploy-dns.md shows how to deploy it.
package dns

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strconv"

	dnsmsg "github.com/miekg/dns"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

// Name is the transport's name in bridge lines.
const Name = "dns"

// Bridge-line arguments.
const (
	argDomain = "domain"
	argDoH    = "doh"
	argDoT    = "dot"
	argFP     = "fp"
)

// Default ports of the encrypted ways to a resolver.
const (
	portDoT = "853" // RFC 7858
	portDoH = "443"
)

// minCapacity is the fewest packet bytes a query name must carry: a domain so long
// that names carry less leaves too little beside KCP's 24-byte header.
const minCapacity = 96

// New returns the dns transport.
//
// Client arguments: domain= (the zone delegated to the gateway; required), and at most
// one of doh=https://NAME[:PORT]/PATH and dot=NAME[:PORT] to reach the resolver over
// HTTPS or TLS instead of plain UDP: the connection goes to the bridge address's host
// at that port, and NAME is the TLS server name. The resolver's certificate must chain
// to roots (nil: the system's) unless pin= pins its key; fp= picks the browser whose
// ClientHello DoH sends (as for utls).
//
// Listener arguments: domain=. The listener binds UDP and TCP on its address and
// answers as the zone's authoritative server.
func New(roots *x509.CertPool) transports.Transport {
	return transports.Define(Name, func(addr string, args transports.Args) (*Dialer, error) {
		return newDialer(addr, args, roots)
	}, listenZone, checkZone)
}

// parseDomain reads domain= and checks that names under it can carry the tunnel.
func parseDomain(args transports.Args) (string, error) {
	d, err := args.Required(argDomain)
	if err != nil {
		return "", err
	}
	if _, ok := dnsmsg.IsDomainName(d); !ok || canonical(d) == "" {
		return "", &transports.ArgError{Key: argDomain, Err: fmt.Errorf("%q is not a domain name", d)}
	}
	d = canonical(d)
	if c := nameCapacity(d) - upHeader; c < minCapacity {
		return "", &transports.ArgError{Key: argDomain, Err: fmt.Errorf("%q is too long: names under it carry %d bytes, want %d", d, c, minCapacity)}
	}
	return d, nil
}

func newDialer(addr string, args transports.Args, roots *x509.CertPool) (*Dialer, error) {
	if err := args.Unknown(argDomain, argDoH, argDoT, trust.PinArg, argFP); err != nil {
		return nil, err
	}
	domain, err := parseDomain(args)
	if err != nil {
		return nil, err
	}
	if err := transports.CheckHostPort(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	d := &Dialer{Domain: domain, Addr: addr, kind: overUDP}
	_, doh := args[argDoH]
	_, dot := args[argDoT]
	switch {
	case doh && dot:
		return nil, &transports.ArgError{Key: argDoT, Err: fmt.Errorf("give doh= or dot=, not both")}
	case doh:
		u, err := url.Parse(args[argDoH])
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return nil, &transports.ArgError{Key: argDoH, Err: fmt.Errorf("want https://NAME/PATH, got %q", args[argDoH])}
		}
		port := u.Port()
		if port == "" {
			port = portDoH
		}
		tlsArgs := transports.Args{}
		for _, k := range []string{trust.PinArg, argFP} {
			if v, ok := args[k]; ok {
				tlsArgs[k] = v
			}
		}
		if d.browser, err = browserTLS(u.Hostname(), tlsArgs, roots); err != nil {
			return nil, err
		}
		d.kind, d.URL, d.Addr = overHTTPS, u.String(), net.JoinHostPort(host, port)
	case dot:
		name, port, err := splitDefaultPort(args[argDoT], portDoT)
		if err != nil || net.ParseIP(name) != nil {
			return nil, &transports.ArgError{Key: argDoT, Err: fmt.Errorf("want NAME[:PORT], got %q", args[argDoT])}
		}
		d.verifier = trust.Verifier{ServerName: name, Roots: roots}
		if pin, ok := args[trust.PinArg]; ok {
			if d.verifier.Pins, err = trust.ParsePins(pin); err != nil {
				return nil, &transports.ArgError{Key: trust.PinArg, Err: err}
			}
		}
		d.kind, d.Addr = overTLS, net.JoinHostPort(host, port)
	}
	return d, nil
}

// splitDefaultPort splits NAME[:PORT], with def when there is no port.
func splitDefaultPort(s, def string) (host, port string, err error) {
	if host, port, err = net.SplitHostPort(s); err == nil {
		if _, err = strconv.ParseUint(port, 10, 16); err != nil {
			return "", "", err
		}
		return host, port, nil
	}
	if s == "" {
		return "", "", fmt.Errorf("empty")
	}
	return s, def, nil
}

// zoneDomain reads the listener's arguments: domain= and nothing else.
func zoneDomain(cfg transports.ListenConfig) (string, error) {
	if err := cfg.Args.Unknown(argDomain); err != nil {
		return "", err
	}
	return parseDomain(cfg.Args)
}

func checkZone(cfg transports.ListenConfig) error {
	_, err := zoneDomain(cfg)
	return err
}

func listenZone(ctx context.Context, cfg transports.ListenConfig) (transports.Listener, error) {
	domain, err := zoneDomain(cfg)
	if err != nil {
		return nil, err
	}
	udp, tcp, err := bind(ctx, cfg.Addr)
	if err != nil {
		return nil, err
	}
	return serve(newZone(domain), udp, tcp, transports.Args{argDomain: domain}, cfg.Logger, defaultLimits), nil
}
