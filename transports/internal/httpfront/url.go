package httpfront

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"

	"github.com/umbrella-edge/edge/transports"
)

// ParseURL accepts SCHEME://HOST[:PORT]/PATH for one of schemes, with a DNS name for
// HOST and a path CheckPath accepts: all a bridge line's url= can mean is a Host header
// and a request line.
func ParseURL(raw string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case !slices.Contains(schemes, u.Scheme):
		return nil, fmt.Errorf("want a URL with scheme %v, got %q", schemes, u.Scheme)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, errors.New("want only a host and a path (no user, query or fragment)")
	}
	if err := CheckHost(u.Host); err != nil {
		return nil, err
	}
	if err := CheckPath(u.EscapedPath()); err != nil {
		return nil, err
	}
	return u, nil
}

// CheckHost accepts an HTTP Host value: a DNS name, optionally with a port. A CDN
// routes by name, and a TLS server name cannot be an IP.
func CheckHost(host string) error {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		if err := transports.CheckHostPort(host); err != nil {
			return err
		}
		name = h
	}
	switch {
	case name == "":
		return errors.New("missing host")
	case net.ParseIP(name) != nil:
		return fmt.Errorf("want a DNS name, got the IP %s", name)
	}
	if _, err := url.Parse("https://" + host + "/"); err != nil {
		return fmt.Errorf("host %q: %w", host, err)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("host %q: %q is not allowed in a DNS name", host, r)
		}
	}
	return nil
}
