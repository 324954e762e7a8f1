package bridge

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/umbrella-edge/edge/transports"
)

// ErrMissing is wrapped by an *Error for a required part of a bridge line that is
// absent or empty.
var ErrMissing = errors.New("required")

// Error is a problem with one field of a bridge line:
//
//	bridge line: secret=: want 32 bytes of base64url, got 31
//	bridge line: address "1.2.3.4": missing port
//
// Values of arguments are never repeated in the message: they may be secrets.
type Error struct {
	Field string // "transport", "address", or an argument as "secret="
	Value string // shown for the transport and the address only
	Err   error
}

func (e *Error) Error() string {
	field := e.Field
	if e.Value != "" {
		field += " " + strconv.Quote(e.Value)
	}
	if field == "" {
		return "bridge line: " + e.Err.Error()
	}
	return "bridge line: " + field + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Parse parses a bridge line, with or without the leading "Bridge" word of a torrc
// line. key= and secret= are required; next-key=, a rotation's next identity key, is
// optional. Errors are *Error.
func Parse(line string) (Line, error) {
	fields := strings.Fields(line)
	if len(fields) > 0 && strings.EqualFold(fields[0], "Bridge") {
		fields = fields[1:]
	}
	if len(fields) == 0 {
		return Line{}, &Error{Err: errors.New("empty")}
	}
	var b Line
	b.Transport = fields[0]
	if !IsTransportName(b.Transport) {
		return Line{}, &Error{Field: "transport", Value: shorten(b.Transport),
			Err: errors.New("want letters, digits and _, starting with a letter")}
	}
	if len(fields) < 2 {
		return Line{}, &Error{Field: "address", Err: ErrMissing}
	}
	b.Addr = fields[1]
	if err := CheckAddr(b.Addr); err != nil {
		return Line{}, &Error{Field: "address", Value: shorten(b.Addr), Err: err}
	}
	b.Args = make(transports.Args)
	var haveKey, haveSecret bool
	for i, f := range fields[2:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			// The word is not shown: it may be a secret pasted without its name.
			return Line{}, &Error{Field: fmt.Sprintf("argument %d", i+1),
				Err: errors.New("want key=value (Tor's fingerprints are not used)")}
		}
		if !IsArgName(k) {
			return Line{}, &Error{Field: "argument", Value: shorten(k),
				Err: errors.New("name: want letters, digits, '_', '-' and '.'")}
		}
		field := k + "="
		if _, dup := b.Args[k]; dup || (k == argKey && haveKey) || (k == argSecret && haveSecret) || (k == argNextKey && b.NextKey != nil) {
			return Line{}, &Error{Field: field, Err: errors.New("given twice")}
		}
		if !isArgValue(v) {
			return Line{}, &Error{Field: field, Err: errors.New("value has characters other than printable ASCII")}
		}
		switch k {
		case argKey:
			key, err := DecodeKey(v, ed25519.PublicKeySize)
			if err != nil {
				return Line{}, &Error{Field: field, Err: err}
			}
			b.Key, haveKey = key, true
		case argNextKey:
			key, err := DecodeKey(v, ed25519.PublicKeySize)
			if err != nil {
				return Line{}, &Error{Field: field, Err: err}
			}
			b.NextKey = key
		case argSecret:
			s, err := ParseSecret(v)
			if err != nil {
				return Line{}, &Error{Field: field, Err: err}
			}
			b.Secret, haveSecret = s, true
		default:
			b.Args[k] = v
		}
	}
	if !haveKey {
		return Line{}, &Error{Field: argKey + "=", Err: ErrMissing}
	}
	if !haveSecret {
		return Line{}, &Error{Field: argSecret + "=", Err: ErrMissing}
	}
	if b.NextKey.Equal(b.Key) {
		return Line{}, &Error{Field: argNextKey + "=", Err: errors.New("the same key as key=: a rotation replaces the key with another")}
	}
	return b, nil
}

// CheckAddr accepts host:port with a port in 1..65535 and a host that is an IP
// address (IPv6 in brackets) or a DNS name.
func CheckAddr(addr string) error {
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

// IsTransportName reports whether s can name a transport in a bridge line: letters,
// digits and '_', starting with a letter.
func IsTransportName(s string) bool {
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

// IsArgName accepts argument names as Tor's pluggable transports write them.
func IsArgName(s string) bool {
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
