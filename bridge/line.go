// Package bridge is the bridge line: the one line of text, in Tor's shape, that tells a
// client where a gateway is, how to reach it and how to prove itself. The client, the
// gateway and the config files share it; it parses and prints, and loads nothing.
package bridge

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/url"
	"strings"

	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// Line is one parsed bridge line:
//
//	utls 203.0.113.5:443 key=<base64url Ed25519 public key> secret=<base64url 32 bytes> servername=www.example.com fp=chrome
//
// key= and secret= belong to the session layer; every other argument is the transport's.
// Args never holds "key" or "secret": Parse moves them to Key and Secret, and String
// prints only those.
type Line struct {
	Transport string
	Addr      string
	Key       ed25519.PublicKey
	Secret    session.Secret
	Args      transports.Args
}

// Names of the bridge-line arguments that belong to the session layer.
const (
	argKey    = "key"
	argSecret = "secret"
)

// New returns the bridge line a gateway prints for one listener. args are the
// listener's transport arguments; it is copied, without any "key" or "secret" in it.
func New(transport, addr string, key ed25519.PublicKey, secret session.Secret, args transports.Args) Line {
	a := args.Clone()
	delete(a, argKey)
	delete(a, argSecret)
	return Line{Transport: transport, Addr: addr, Key: key, Secret: secret, Args: a}
}

// Endpoint is what the session's hello is bound to for this bridge: its transport,
// address and TLS server name, with two exceptions that the client and the gateway both
// see in the bridge line.
//
//   - A pt bridge binds to its PT method, not to "pt": a native obfs4 client and a Tor
//     obfs4 program reach the same listener with the same hello.
//   - A bridge reached through a CDN or another front (it names the origin with host= or
//     url=) binds to that origin's name alone: a CDN has many addresses and front names,
//     any of which a user may dial, while the origin names one gateway.
//   - A dns bridge binds to its domain= alone, for the same reason: its address is a
//     recursive resolver's, which a user may change for any other (doh=, dot= too),
//     while the domain is delegated to one gateway.
func (b Line) Endpoint() session.Endpoint {
	ep := session.Endpoint{Transport: b.Transport, Address: b.Addr, ServerName: b.Args["servername"]}
	if method := b.Args["method"]; b.Transport == "pt" && method != "" {
		ep.Transport = method
	}
	if origin := b.origin(); origin != "" {
		ep.Address, ep.ServerName = origin, ""
	}
	return ep
}

// origin is the host a fronted bridge's HTTP requests name, or a dns bridge's domain,
// or "".
func (b Line) origin() string {
	if b.Transport == "dns" {
		return strings.ToLower(strings.TrimSuffix(b.Args["domain"], "."))
	}
	if host := b.Args["host"]; host != "" {
		return host
	}
	if u, err := url.Parse(b.Args["url"]); err == nil && u.Host != "" {
		return u.Host
	}
	return ""
}

// String prints the bridge line that Parse reads back: transport, address, key=,
// secret=, then the other arguments sorted by name. It contains the secret: log
// Redacted instead.
func (b Line) String() string {
	return b.format(func(_, v string) string { return v })
}

// Redacted is the bridge line for logs. What lets a censor probe or reach the bridge
// is replaced by a short fingerprint that tells two lines apart and cannot be
// reversed: key=, secret=, cert= (obfs4's and quicobfs's keys), path= and the path
// of url= (a web transport's secret path, the one request that does not get the
// decoy site). pin= stays: it is the hash of a key the server shows anyone who
// connects to the address, which the line shows too, and it is what an operator
// compares when a client reports a pin mismatch.
func (b Line) Redacted() string {
	return b.format(func(k, v string) string {
		switch k {
		case argKey, argSecret, "cert", "path":
			return fingerprint(k, v)
		case "url":
			if u, err := url.Parse(v); err == nil && u.Host != "" {
				return u.Scheme + "://" + u.Host + "/" + fingerprint(k, u.Path)
			}
			return fingerprint(k, v)
		}
		return v
	})
}

func fingerprint(k, v string) string {
	sum := sha256.Sum256([]byte("umbrella-edge redacted " + k + "=" + v))
	return "#" + hex.EncodeToString(sum[:4])
}

// LogValue makes slog print a Line redacted, so a bridge logged by accident does not
// leak its secret.
func (b Line) LogValue() slog.Value { return slog.StringValue(b.Redacted()) }

// MarshalText writes a Line as its bridge line, the way a client.yaml lists bridges.
func (b Line) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText reads a bridge line.
func (b *Line) UnmarshalText(text []byte) error {
	parsed, err := Parse(string(text))
	if err != nil {
		return err
	}
	*b = parsed
	return nil
}

func (b Line) format(value func(k, v string) string) string {
	var s strings.Builder
	s.WriteString(b.Transport)
	s.WriteByte(' ')
	s.WriteString(b.Addr)
	arg := func(k, v string) {
		s.WriteByte(' ')
		s.WriteString(k)
		s.WriteByte('=')
		s.WriteString(value(k, v))
	}
	if len(b.Key) > 0 {
		arg(argKey, EncodeKey(b.Key))
	}
	if b.Secret != (session.Secret{}) {
		arg(argSecret, EncodeKey(b.Secret[:]))
	}
	for _, k := range b.Args.Keys() {
		if k != argKey && k != argSecret {
			arg(k, b.Args[k])
		}
	}
	return s.String()
}
