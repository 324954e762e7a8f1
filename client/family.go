package client

import (
	"github.com/umbrella-edge/edge/bridge"
)

// A family is the transports a censor tends to block together, because they look alike
// on the wire: a rule that catches one catches the others. A round of attempts tries
// the best bridge of each family before a second of any, and a failure pattern seen
// twice in a family demotes all of it on that network.
type family string

const (
	// familyStream: bytes that look random from the first one (China's rule against
	// fully encrypted traffic catches them all; Wu et al., USENIX Security 2023).
	familyStream family = "stream-random"
	// familyTLS: TLS to the gateway's own address (SNI lists, fingerprint allow
	// lists, IP blocks catch them together).
	familyTLS family = "tls"
	// familyCDN: TLS to a CDN or another front that passes the carrier on.
	familyCDN family = "cdn"
	// familyUDP: QUIC and its masked variant (UDP and QUIC blocks).
	familyUDP family = "udp"
	// familyDNS: queries through a recursive resolver.
	familyDNS family = "dns"
)

// families names the family of each transport and PT method this client knows; any
// other is a family of its own.
var families = map[string]family{
	"tcp": familyStream, "obfs4": familyStream, "obfs3": familyStream, "scramblesuit": familyStream,
	"utls": familyTLS, "webtunnel": familyTLS,
	"websocket": familyCDN, "meek": familyCDN, "meek_lite": familyCDN,
	"quic": familyUDP, "quicobfs": familyUDP,
	"dns": familyDNS, "dnstt": familyDNS,
}

// familyOf returns b's family: a pt bridge's is its PT method's.
func familyOf(b bridge.Line) family {
	name := b.Transport
	if method := b.Args["method"]; name == "pt" && method != "" {
		name = method
	}
	if f, ok := families[name]; ok {
		return f
	}
	return family(name)
}

// speaksTLS reports whether f's carriers start with a TLS ClientHello.
func (f family) speaksTLS() bool { return f == familyTLS || f == familyCDN }

// FamilyOf names the family of transports bridge line b belongs to: "stream-random"
// (tcp, obfs4), "tls" (utls, webtunnel), "cdn" (websocket, meek), "udp" (quic,
// quicobfs), "dns" (dns, and Tor's dnstt), or the transport's own name for one in no
// family. The client tries the best line of each family before a second of any.
func FamilyOf(b bridge.Line) string { return string(familyOf(b)) }
