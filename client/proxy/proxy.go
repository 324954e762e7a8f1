// Package proxy exposes the client's Dial to ordinary apps on loopback (SOCKS5, HTTP
// CONNECT, port forwards); apps reach named backend services only, never arbitrary hosts.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// DialFunc opens a stream to a backend service.
type DialFunc func(ctx context.Context, service string) (net.Conn, error)

// Resolver maps what an app asked for (SOCKS/HTTP host, without port) to a service name.
type Resolver func(host string) (service string, ok bool)

// A Handler turns one app connection into a stream to a service.
type Handler interface {
	// Open reads the app's request from app, dials the service it maps to, tells the
	// app the outcome and returns the stream. ctx bounds the dial. The returned error
	// never contains the host the app asked for (logs at info level must not); the
	// Target, filled as far as the request was understood, carries it.
	Open(ctx context.Context, app net.Conn) (net.Conn, Target, error)
}

// Target is what an app asked for and the service it was mapped to.
type Target struct {
	Host    string // as the app sent it; private, logged at debug level only
	Service string
}

// Errors a caller (or a Server's log) branches on.
var (
	// ErrNotAllowed: the app asked for a host that no service answers to.
	ErrNotAllowed = errors.New("proxy: host not mapped to a service")
	// ErrUnsupported: a well-formed request for something the proxy does not do
	// (SOCKS BIND, an auth method, an HTTP method other than CONNECT).
	ErrUnsupported = errors.New("proxy: unsupported request")
	// ErrMalformed: the app did not speak the protocol.
	ErrMalformed = errors.New("proxy: malformed request")
	// ErrUnreachable is for DialFuncs to wrap when no gateway could be reached, so
	// the app is told "host unreachable" rather than "general failure".
	ErrUnreachable = errors.New("proxy: gateway unreachable")
)

// DialError is a failure to open the stream to a mapped service.
type DialError struct {
	Service string
	Err     error
}

func (e *DialError) Error() string { return fmt.Sprintf("proxy: dial %q: %v", e.Service, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

// StaticResolver maps hosts (as in the client config's hosts:) to services, and lets
// each service's own name, from services or the map's values, stand for itself.
// Matching ignores case, a trailing dot, and the spelling of IP literals.
func StaticResolver(hosts map[string]string, services ...string) Resolver {
	m := make(map[string]string, len(hosts)+len(services))
	for _, s := range services {
		m[normalizeHost(s)] = s
	}
	for _, s := range hosts {
		m[normalizeHost(s)] = s
	}
	// Explicit host mappings win over a service name that happens to equal a host.
	for h, s := range hosts {
		m[normalizeHost(h)] = s
	}
	return func(host string) (string, bool) {
		s, ok := m[normalizeHost(host)]
		return s, ok
	}
}

func normalizeHost(h string) string {
	h = strings.TrimSuffix(h, ".")
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return a.Unmap().String()
	}
	return strings.ToLower(h)
}
