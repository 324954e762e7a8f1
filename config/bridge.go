package config

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// Bridge is one parsed bridge line, in Tor's shape:
//
//	utls 203.0.113.5:443 key=<base64url Ed25519 public key> secret=<base64url 32 bytes> servername=www.example.com fp=chrome
//
// key= and secret= belong to the session layer; every other argument is the transport's.
// Args never holds "key" or "secret": ParseBridge moves them to Key and Secret, and
// String prints only those.
type Bridge struct {
	Transport string
	Addr      string
	Key       ed25519.PublicKey
	Secret    session.Secret
	Args      transports.Args
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
func (b Bridge) Endpoint() session.Endpoint {
	ep := session.Endpoint{Transport: b.Transport, Address: b.Addr, ServerName: b.Args["servername"]}
	if method := b.Args["method"]; b.Transport == "pt" && method != "" {
		ep.Transport = method
	}
	if origin := b.origin(); origin != "" {
		ep.Address, ep.ServerName = origin, ""
	}
	return ep
}

// origin is the host a fronted bridge's HTTP requests name, or "".
func (b Bridge) origin() string {
	if host := b.Args["host"]; host != "" {
		return host
	}
	if u, err := url.Parse(b.Args["url"]); err == nil && u.Host != "" {
		return u.Host
	}
	return ""
}

// BridgeError is a problem with one field of a bridge line:
//
//	bridge line: secret=: want 32 bytes of base64url, got 31
//	bridge line: address "1.2.3.4": missing port
//
// Values of arguments are never repeated in the message: they may be secrets.
type BridgeError struct {
	Field string // "transport", "address", or an argument as "secret="
	Value string // shown for the transport and the address only
	Err   error
}

func (e *BridgeError) Error() string {
	field := e.Field
	if e.Value != "" {
		field += " " + strconv.Quote(e.Value)
	}
	if field == "" {
		return "bridge line: " + e.Err.Error()
	}
	return "bridge line: " + field + ": " + e.Err.Error()
}

func (e *BridgeError) Unwrap() error { return e.Err }

// Names of the bridge-line arguments that belong to the session layer.
const (
	argKey    = "key"
	argSecret = "secret"
)

// BridgeLine returns the bridge line a gateway prints for one listener. args are the
// listener's transport arguments; it is copied, without any "key" or "secret" in it.
func BridgeLine(transport, addr string, key ed25519.PublicKey, secret session.Secret, args transports.Args) Bridge {
	a := args.Clone()
	delete(a, argKey)
	delete(a, argSecret)
	return Bridge{Transport: transport, Addr: addr, Key: key, Secret: secret, Args: a}
}

// ParseBridge parses a bridge line, with or without the leading "Bridge" word of a torrc
// line. key= and secret= are required. Errors are *BridgeError.
func ParseBridge(line string) (Bridge, error) {
	fields := strings.Fields(line)
	if len(fields) > 0 && strings.EqualFold(fields[0], "Bridge") {
		fields = fields[1:]
	}
	if len(fields) == 0 {
		return Bridge{}, &BridgeError{Err: errors.New("empty")}
	}
	var b Bridge
	b.Transport = fields[0]
	if !isTransportName(b.Transport) {
		return Bridge{}, &BridgeError{Field: "transport", Value: shorten(b.Transport),
			Err: errors.New("want letters, digits and _, starting with a letter")}
	}
	if len(fields) < 2 {
		return Bridge{}, &BridgeError{Field: "address", Err: ErrMissing}
	}
	b.Addr = fields[1]
	if err := checkBridgeAddr(b.Addr); err != nil {
		return Bridge{}, &BridgeError{Field: "address", Value: shorten(b.Addr), Err: err}
	}
	b.Args = make(transports.Args)
	var haveKey, haveSecret bool
	for i, f := range fields[2:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			// The word is not shown: it may be a secret pasted without its name.
			return Bridge{}, &BridgeError{Field: fmt.Sprintf("argument %d", i+1),
				Err: errors.New("want key=value (Tor's fingerprints are not used)")}
		}
		if !isArgKey(k) {
			return Bridge{}, &BridgeError{Field: "argument", Value: shorten(k),
				Err: errors.New("name: want letters, digits, '_', '-' and '.'")}
		}
		field := k + "="
		if _, dup := b.Args[k]; dup || (k == argKey && haveKey) || (k == argSecret && haveSecret) {
			return Bridge{}, &BridgeError{Field: field, Err: errors.New("given twice")}
		}
		if !isArgValue(v) {
			return Bridge{}, &BridgeError{Field: field, Err: errors.New("value has characters other than printable ASCII")}
		}
		switch k {
		case argKey:
			key, err := DecodeKey(v, ed25519.PublicKeySize)
			if err != nil {
				return Bridge{}, &BridgeError{Field: field, Err: err}
			}
			b.Key, haveKey = key, true
		case argSecret:
			s, err := ParseSecret(v)
			if err != nil {
				return Bridge{}, &BridgeError{Field: field, Err: err}
			}
			b.Secret, haveSecret = s, true
		default:
			b.Args[k] = v
		}
	}
	if !haveKey {
		return Bridge{}, &BridgeError{Field: argKey + "=", Err: ErrMissing}
	}
	if !haveSecret {
		return Bridge{}, &BridgeError{Field: argSecret + "=", Err: ErrMissing}
	}
	return b, nil
}

// String prints the bridge line that ParseBridge reads back: transport, address, key=,
// secret=, then the other arguments sorted by name. It contains the secret: log
// Redacted instead.
func (b Bridge) String() string {
	return b.format(func(_, v string) string { return v })
}

// Redacted is the bridge line for logs: key=, secret= and cert= (obfs4's, which lets a
// censor probe the bridge) are replaced by a short fingerprint that tells two lines
// apart and cannot be reversed.
func (b Bridge) Redacted() string {
	return b.format(func(k, v string) string {
		switch k {
		case argKey, argSecret, "cert":
			sum := sha256.Sum256([]byte("umbrella-edge redacted " + k + "=" + v))
			return "#" + hex.EncodeToString(sum[:4])
		}
		return v
	})
}

// LogValue makes slog print a Bridge redacted, so a bridge logged by accident does not
// leak its secret.
func (b Bridge) LogValue() slog.Value { return slog.StringValue(b.Redacted()) }

// MarshalYAML writes a Bridge as its bridge line, the way a client.yaml lists bridges.
func (b Bridge) MarshalYAML() (any, error) { return b.String(), nil }

// UnmarshalYAML reads a bridge line written as a YAML string.
func (b *Bridge) UnmarshalYAML(n *yaml.Node) error {
	var line string
	if err := n.Decode(&line); err != nil {
		return err
	}
	parsed, err := ParseBridge(line)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = parsed
	return nil
}

func (b Bridge) format(value func(k, v string) string) string {
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

// checkBridgeAddr accepts host:port with a port in 1..65535 and a host that is an IP
// address (IPv6 in brackets) or a DNS name.
func checkBridgeAddr(addr string) error {
	if err := transports.CheckHostPort(addr); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() != "" {
		return errors.New("IPv6 zones (%eth0) have no meaning to a remote peer")
	}
	if !transports.IsHostName(host) {
		return fmt.Errorf("host %q is neither an IP address nor a DNS name", host)
	}
	return nil
}

func isTransportName(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

// isArgKey accepts argument names as Tor's pluggable transports write them.
func isArgKey(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isArgValue keeps values to printable ASCII without spaces, so a line survives copy,
// paste, logs and terminals unchanged. Empty values are allowed, as in Tor.
func isArgValue(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// shorten keeps an echoed value short enough for one line of an error message.
func shorten(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool  { return isLetter(c) || '0' <= c && c <= '9' }
