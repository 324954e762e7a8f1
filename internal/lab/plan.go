package lab

import (
	"errors"
	"fmt"
	"net"

	"github.com/umbrella-edge/edge/probes/censor"
	"github.com/umbrella-edge/edge/transports"
)

// listenerPlan is one gateway listener and the censor route in front of it.
type listenerPlan struct {
	transport transports.Transport
	listen    string
	args      transports.Args
	route     censor.Route
	fronted   bool
	resolver  *resolverPlan // dns's, in front of it
}

// plan picks the gateway's listeners, their addresses and the censor's routes to them,
// and the CDN in front of those meant for one.
func (l *Lab) plan(opts Options) ([]listenerPlan, *cdn, error) {
	names := transportNames(l.Registry, opts)
	var plans []listenerPlan
	for _, name := range names {
		tr, err := l.Registry.Get(name)
		if err != nil {
			return nil, nil, fmt.Errorf("lab: %w", err)
		}
		args, err := ListenerArgs(name)
		if errors.Is(err, ErrUnavailable) && opts.AllowMissing {
			l.Missing[name] = err
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("lab: %w", err)
		}
		var rp *resolverPlan
		if ViaResolver(name) {
			rp, err = planResolver()
			if errors.Is(err, ErrUnavailable) && opts.AllowMissing {
				l.Missing[name] = err
				continue
			}
			if err != nil {
				return nil, nil, err
			}
		}
		p, err := newPlan(tr, args, name, "")
		if err != nil {
			return nil, nil, err
		}
		if rp != nil {
			rp.auth, p.resolver, p.route.Upstream = p.listen, rp, rp.addr
		}
		plans = append(plans, p)
	}
	if opts.NoCDN {
		return plans, nil, nil
	}
	c, err := newCDN(opts.NginxConfigs)
	if errors.Is(err, ErrUnavailable) && opts.AllowMissing {
		l.Missing["cdn"] = err
		return plans, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		args, ok := c.listenerArgs(name)
		if !ok {
			continue
		}
		tr, _ := l.Registry.Get(name)
		edge, err := freeAddr("tcp", CDNHost)
		if err != nil {
			return nil, nil, err
		}
		p, err := newPlan(tr, args, name+CDNSuffix, edge)
		if err != nil {
			return nil, nil, err
		}
		c.origins[name] = p.listen
		c.edges[name] = edge
		plans = append(plans, p)
	}
	return plans, c, nil
}

// newPlan places a listener of tr on GatewayHost behind a censor route called route.
// The route leads to edge, a CDN's address, or when edge is empty to the listener.
func newPlan(tr transports.Transport, args transports.Args, route, edge string) (listenerPlan, error) {
	network := Network(tr.Name())
	listen, err := freeAddr(network, GatewayHost)
	if err != nil {
		return listenerPlan{}, err
	}
	upstream := listen
	if edge != "" {
		upstream = edge
	}
	return listenerPlan{
		transport: tr,
		listen:    listen,
		args:      args,
		fronted:   edge != "",
		route: censor.Route{Name: route, Transport: tr.Name(), Network: network,
			Listen: net.JoinHostPort(ClientHost, "0"), Upstream: upstream},
	}, nil
}
