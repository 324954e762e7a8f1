package pt

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/umbrella-edge/edge/transports"
)

// The parent's side of the PT 1.0 managed-proxy protocol (Tor's pt-spec, section 3):
// the environment a child is started with, and the lines it answers on stdout.

// message is one line a managed proxy wrote on stdout.
type message struct {
	keyword string          // VERSION, CMETHOD, SMETHODS, ENV-ERROR, LOG, …
	method  string          // CMETHOD, SMETHOD and their -ERROR lines
	socks   string          // CMETHOD: socks4 or socks5
	addr    string          // CMETHOD, SMETHOD: host:port
	args    transports.Args // SMETHOD: its ARGS: option
	text    string          // the rest: a version, an error message, DONE, a log line
}

// maxLine bounds one line from a child; pt-spec sets no limit, but a bridge's ARGS are
// a few hundred bytes.
const maxLine = 64 << 10

// parseLine parses one line of a managed proxy's stdout, without its newline. Lines
// with keywords it does not know come back with only keyword set: pt-spec tells
// parents to ignore them.
func parseLine(line string) (message, error) {
	if len(line) > maxLine {
		return message{}, fmt.Errorf("line of %d bytes", len(line))
	}
	keyword, rest, _ := strings.Cut(line, " ")
	if keyword == "" {
		return message{}, errors.New("empty line")
	}
	m := message{keyword: keyword}
	switch keyword {
	case "VERSION", "VERSION-ERROR", "ENV-ERROR", "PROXY-ERROR", "PROXY",
		"CMETHODS", "SMETHODS", "LOG", "STATUS":
		m.text = rest
	case "CMETHOD-ERROR", "SMETHOD-ERROR":
		m.method, m.text, _ = strings.Cut(rest, " ")
		if !isMethodName(m.method) {
			return message{}, fmt.Errorf("%s: method name %q", keyword, shorten(m.method))
		}
	case "CMETHOD":
		f := strings.Fields(rest)
		if len(f) < 3 {
			return message{}, fmt.Errorf("CMETHOD: want a method, socks4 or socks5, and host:port")
		}
		m.method, m.socks, m.addr = f[0], f[1], f[2]
		if !isMethodName(m.method) {
			return message{}, fmt.Errorf("CMETHOD: method name %q", shorten(m.method))
		}
		if err := checkAddr(m.addr); err != nil {
			return message{}, fmt.Errorf("CMETHOD %s: address %q: %w", m.method, shorten(m.addr), err)
		}
	case "SMETHOD":
		f := strings.Fields(rest)
		if len(f) < 2 {
			return message{}, fmt.Errorf("SMETHOD: want a method and host:port")
		}
		m.method, m.addr = f[0], f[1]
		if !isMethodName(m.method) {
			return message{}, fmt.Errorf("SMETHOD: method name %q", shorten(m.method))
		}
		if err := checkAddr(m.addr); err != nil {
			return message{}, fmt.Errorf("SMETHOD %s: address %q: %w", m.method, shorten(m.addr), err)
		}
		m.args = transports.Args{}
		for _, opt := range f[2:] {
			if enc, ok := strings.CutPrefix(opt, "ARGS:"); ok {
				args, err := parseSmethodArgs(enc)
				if err != nil {
					return message{}, fmt.Errorf("SMETHOD %s: ARGS: %w", m.method, err)
				}
				m.args = args
			}
		}
	}
	return m, nil
}

// parseSmethodArgs decodes an SMETHOD line's ARGS: k=v pairs separated by commas, in
// which '\' escapes the next byte (pt-spec escapes '=', ',' and '\' so).
func parseSmethodArgs(s string) (transports.Args, error) {
	args := transports.Args{}
	if s == "" {
		return args, nil
	}
	for s != "" {
		var key, value string
		var err error
		key, s, err = unescapeUntil(s, "=,")
		if err != nil {
			return nil, err
		}
		if key == "" || !strings.HasPrefix(s, "=") {
			return nil, fmt.Errorf("want key=value, got %q", shorten(key))
		}
		value, s, err = unescapeUntil(s[1:], ",")
		if err != nil {
			return nil, err
		}
		if _, dup := args[key]; dup {
			return nil, fmt.Errorf("%s= given twice", shorten(key))
		}
		args[key] = value
		if rest, ok := strings.CutPrefix(s, ","); ok {
			if rest == "" {
				return nil, errors.New("trailing comma")
			}
			s = rest
		}
	}
	return args, nil
}

// unescapeUntil reads s up to the first unescaped byte in stop and returns what it read,
// unescaped, and the rest of s from that byte on.
func unescapeUntil(s, stop string) (string, string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if strings.IndexByte(stop, c) >= 0 {
			return b.String(), s[i:], nil
		}
		if c == '\\' {
			i++
			if i == len(s) {
				return "", "", errors.New("nothing after the final backslash")
			}
			c = s[i]
		}
		b.WriteByte(c)
	}
	return b.String(), "", nil
}

// escape puts a backslash before '\' and every byte of special.
func escape(s, special string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || strings.IndexByte(special, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// serverOptions encodes a listener's arguments for TOR_PT_SERVER_TRANSPORT_OPTIONS:
// method:k=v pairs separated by ';', with ':', ';', '=' and '\' escaped.
func serverOptions(method string, args transports.Args) string {
	parts := make([]string, 0, len(args))
	for _, k := range args.Keys() {
		parts = append(parts, escape(method, ":;=")+":"+escape(k, ":;=")+"="+escape(args[k], ":;="))
	}
	return strings.Join(parts, ";")
}

// isMethodName accepts PT method names: C identifiers, as pt-spec requires.
func isMethodName(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// checkAddr accepts an IP address and port, as managed proxies report where they listen.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if net.ParseIP(host) == nil {
		return errors.New("not an IP address")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("port not in 1..65535")
	}
	return nil
}

// sortedMethods lists a binaries map's methods, for messages.
func sortedMethods(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// shorten keeps a child's or a peer's words short enough for one line of an error.
func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
