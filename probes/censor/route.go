package censor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// A Route relays one listen address to one upstream. The transport label names what
// the route carries ("obfs4", "cdn", …) so a kill can cut every flow of a transport.
type Route struct {
	Name      string `json:"name"`
	Transport string `json:"transport"`
	// Network is "tcp" or "udp".
	Network string `json:"network"`
	// Listen is where clients connect; port 0 picks one, and (*Censor).Routes reports it.
	Listen string `json:"listen"`
	// Upstream is the server the route relays to, IP:PORT.
	Upstream string `json:"upstream"`
}

func (r Route) String() string {
	return strings.Join([]string{r.Name, r.Transport, r.Network, r.Listen, r.Upstream}, ",")
}

// ErrBadRoute is wrapped by errors about a route that cannot be used.
var ErrBadRoute = errors.New("bad route")

// ParseRoute reads NAME,TRANSPORT,NETWORK,LISTEN,UPSTREAM, as --route takes it:
// "obfs4,obfs4,tcp,127.0.0.1:9001,127.0.0.2:443".
func ParseRoute(s string) (Route, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 5 {
		return Route{}, fmt.Errorf("%w %q: want NAME,TRANSPORT,tcp|udp,LISTEN,UPSTREAM (5 fields), got %d", ErrBadRoute, s, len(parts))
	}
	r := Route{Name: parts[0], Transport: parts[1], Network: parts[2], Listen: parts[3], Upstream: parts[4]}
	if _, err := r.check(); err != nil {
		return Route{}, err
	}
	return r, nil
}

// check validates r and resolves its upstream; errors name the bad field.
func (r Route) check() (netip.AddrPort, error) {
	bad := func(field string, err error) error {
		return fmt.Errorf("%w %q: %s: %w", ErrBadRoute, r.String(), field, err)
	}
	if r.Name == "" {
		return netip.AddrPort{}, bad("name", errors.New("empty"))
	}
	if r.Transport == "" {
		return netip.AddrPort{}, bad("transport", errors.New("empty"))
	}
	if r.Network != "tcp" && r.Network != "udp" {
		return netip.AddrPort{}, bad("network", fmt.Errorf("want tcp or udp, got %q", r.Network))
	}
	if _, _, err := net.SplitHostPort(r.Listen); err != nil {
		return netip.AddrPort{}, bad("listen", err)
	}
	up, err := netip.ParseAddrPort(r.Upstream)
	if err != nil {
		return netip.AddrPort{}, bad("upstream", fmt.Errorf("want IP:PORT: %w", err))
	}
	if up.Port() == 0 {
		return netip.AddrPort{}, bad("upstream", errors.New("port 0"))
	}
	return netip.AddrPortFrom(up.Addr().Unmap(), up.Port()), nil
}

// route is a Route being served.
type route struct {
	Route
	upstream netip.AddrPort
	ln       net.Listener // tcp
	pc       *net.UDPConn // udp
}

func listenRoute(ctx context.Context, r Route) (*route, error) {
	up, err := r.check()
	if err != nil {
		return nil, err
	}
	rt := &route{Route: r, upstream: up}
	var lc net.ListenConfig
	switch r.Network {
	case "tcp":
		rt.ln, err = lc.Listen(ctx, "tcp", r.Listen)
		if err == nil {
			rt.Listen = rt.ln.Addr().String()
		}
	case "udp":
		var pc net.PacketConn
		pc, err = lc.ListenPacket(ctx, "udp", r.Listen)
		if err == nil {
			rt.pc = pc.(*net.UDPConn)
			rt.Listen = pc.LocalAddr().String()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("route %s: listen %s %s: %w", r.Name, r.Network, r.Listen, err)
	}
	return rt, nil
}

func (rt *route) close() {
	if rt.ln != nil {
		rt.ln.Close()
	}
	if rt.pc != nil {
		rt.pc.Close()
	}
}

// flow returns the Flow of a new client of rt.
func (rt *route) flow(id uint64, client netip.AddrPort) Flow {
	return Flow{
		ID: id, Route: rt.Name, Transport: rt.Transport, Network: rt.Network,
		Client: netip.AddrPortFrom(client.Addr().Unmap(), client.Port()), Upstream: rt.upstream,
	}
}
