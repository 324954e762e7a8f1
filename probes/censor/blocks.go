package censor

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/umbrella-edge/edge/transports"
)

// IPBlock makes upstream addresses unreachable, silently: a gateway's address is
// blocked while a CDN front on another address still passes.
type IPBlock struct {
	Scope
	// IPs are blocked on every port; Endpoints on one port. With both empty, every
	// upstream in the policy's scope is blocked ("ip-block:transport=obfs4").
	IPs       []netip.Addr
	Endpoints []netip.AddrPort
}

func parseIPBlock(args transports.Args, s Scope) (*IPBlock, error) {
	if err := args.Unknown("addr"); err != nil {
		return nil, err
	}
	p := &IPBlock{Scope: s}
	for _, a := range list(args, "addr") {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			p.Endpoints = append(p.Endpoints, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		} else if ip, err := netip.ParseAddr(a); err == nil {
			p.IPs = append(p.IPs, ip.Unmap())
		} else {
			return nil, &transports.ArgError{Key: "addr", Err: fmt.Errorf("want IP or IP:PORT, got %q", a)}
		}
	}
	return p, nil
}

func (*IPBlock) Name() string { return "ip-block" }

func (p *IPBlock) String() string {
	var addrs []string
	for _, ip := range p.IPs {
		addrs = append(addrs, ip.String())
	}
	for _, ap := range p.Endpoints {
		addrs = append(addrs, ap.String())
	}
	return spec("ip-block", p.Scope, "addr", strings.Join(addrs, ","))
}

func (p *IPBlock) judgeConnect(_ *Censor, f Flow) (Verdict, string) {
	up := f.Upstream
	switch {
	case len(p.IPs) == 0 && len(p.Endpoints) == 0:
		return Drop, fmt.Sprintf("every upstream of %s/%s is blocked", f.Route, f.Transport)
	case slices.Contains(p.IPs, up.Addr()), slices.Contains(p.Endpoints, up):
		return Drop, fmt.Sprintf("upstream %s is blocked", up)
	}
	return Pass, fmt.Sprintf("upstream %s is not blocked", up)
}

// UDPBlock drops every UDP flow, as networks that block QUIC and UDP-based VPNs
// wholesale do.
type UDPBlock struct{ Scope }

func (*UDPBlock) Name() string     { return "udp-block" }
func (p *UDPBlock) String() string { return spec("udp-block", p.Scope) }

func (p *UDPBlock) judgeConnect(_ *Censor, f Flow) (Verdict, string) {
	if f.Network != "udp" {
		return "", ""
	}
	return Drop, "all UDP is blocked"
}

// QUICBlock drops UDP flows whose first datagram starts a QUIC handshake (a long
// header with a version), leaving other UDP (DNS, WebRTC) alone.
type QUICBlock struct{ Scope }

func (*QUICBlock) Name() string     { return "quic-block" }
func (p *QUICBlock) String() string { return spec("quic-block", p.Scope) }

func (p *QUICBlock) judgeDatagram(_ *Censor, _ Flow, d []byte) (Verdict, string) {
	if isQUICLongHeader(d) {
		return Drop, fmt.Sprintf("QUIC long header, version %#08x", d[1:5])
	}
	return Pass, "not QUIC"
}

// Whitelist is a shutdown in the manner of Iran's protocol filter (Bock et al., FOCI
// 2020), tightened: only DNS to one resolver and HTTPS (a TLS ClientHello) to
// allow-listed names pass; every other flow is dropped silently.
type Whitelist struct {
	Scope
	// DNS is the one resolver DNS may reach (UDP or TCP); zero lets no DNS through.
	DNS netip.AddrPort
	// Allow are the names HTTPS may reach; a name covers its subdomains.
	Allow []string
}

func parseWhitelist(args transports.Args, s Scope) (*Whitelist, error) {
	if err := args.Unknown("dns", "allow"); err != nil {
		return nil, err
	}
	p := &Whitelist{Scope: s, Allow: list(args, "allow")}
	if v := args.Get("dns", ""); v != "" {
		ap, err := netip.ParseAddrPort(v)
		if err != nil {
			return nil, &transports.ArgError{Key: "dns", Err: fmt.Errorf("want the resolver's IP:PORT, got %q", v)}
		}
		p.DNS = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return p, nil
}

func (*Whitelist) Name() string { return "whitelist" }

func (p *Whitelist) String() string {
	dns := ""
	if p.DNS.IsValid() {
		dns = p.DNS.String()
	}
	return spec("whitelist", p.Scope, "dns", dns, "allow", strings.Join(p.Allow, ","))
}

func (*Whitelist) readsHello() bool { return true }

func (p *Whitelist) judgeConnect(_ *Censor, f Flow) (Verdict, string) {
	if p.DNS.IsValid() && f.Upstream == p.DNS {
		return Pass, "DNS to the allowed resolver"
	}
	if f.Network == "udp" {
		return Drop, "shutdown: only DNS to the allowed resolver passes over UDP"
	}
	return "", "" // judged on its first payload
}

func (p *Whitelist) judgePayload(_ *Censor, f Flow, fp *firstPayload) (Verdict, string) {
	if p.DNS.IsValid() && f.Upstream == p.DNS {
		return "", ""
	}
	if fp.hello == nil {
		return Drop, "shutdown: not a TLS ClientHello"
	}
	if matchName(fp.hello.ServerName, p.Allow) {
		return Pass, fmt.Sprintf("HTTPS to allowed name %q", fp.hello.ServerName)
	}
	return Drop, fmt.Sprintf("shutdown: HTTPS to %q, not an allowed name", fp.hello.ServerName)
}

// matchName reports whether name is one of names or a subdomain of one; "*" matches
// every name, an empty one included.
func matchName(name string, names []string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, n := range names {
		n = strings.TrimSuffix(strings.ToLower(n), ".")
		if n == "*" || (name != "" && (name == n || strings.HasSuffix(name, "."+n))) {
			return true
		}
	}
	return false
}
