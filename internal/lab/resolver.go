package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/umbrella-edge/edge/internal/unboundtest"
	"github.com/umbrella-edge/edge/transports"
)

// The lab's DNS: its gateway's dns listener is the authoritative server of DNSDomain,
// and a real unbound on ResolverHost is the network's recursive resolver, which the dns
// line's censor route leads to. A shutdown lets DNS to it through and nothing else.
const (
	DNSDomain    = "t.example.org"
	ResolverHost = "127.0.0.4"
)

// ViaResolver reports whether transport's bridge lines reach the gateway through a
// recursive resolver rather than at its own address: dns's do.
func ViaResolver(transport string) bool { return transport == "dns" }

// transportNames are the transports a lab with opts serves: opts.Transports, or every
// one in r, the dns transport only when opts.Resolver asks for its resolver.
func transportNames(r *transports.Registry, opts Options) []string {
	if opts.Transports != nil {
		return opts.Transports
	}
	return slices.DeleteFunc(r.Names(), func(n string) bool { return ViaResolver(n) && !opts.Resolver })
}

// resolverPlan is the unbound in front of the gateway's dns listener.
type resolverPlan struct {
	addr string // unbound's, where the censor's route leads
	auth string // the dns listener's
}

// planResolver picks unbound's address for a dns listener's route; the caller sets
// auth once the listener's address is planned. A machine without unbound has none.
func planResolver() (*resolverPlan, error) {
	if _, err := os.Stat(unboundtest.Binary); err != nil {
		return nil, fmt.Errorf("dns: %w (%w)", ErrUnavailable, unboundtest.ErrMissing)
	}
	addrs, err := unboundtest.FreeAddrs(ResolverHost, "both")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return &resolverPlan{addr: addrs[0]}, nil
}

// startResolver runs unbound for rp once the gateway's dns listener is up.
func (l *Lab) startResolver(ctx context.Context, rp *resolverPlan) error {
	dir := filepath.Join(l.dir, "unbound")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	u, err := unboundtest.Run(ctx, dir, unboundtest.Config{Listen: rp.addr, Stubs: map[string]string{DNSDomain: rp.auth}})
	if err != nil {
		return fmt.Errorf("lab: resolver: %w", err)
	}
	l.Resolver, l.stop.resolver = rp.addr, u.Stop
	return nil
}
