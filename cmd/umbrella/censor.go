package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/probes/censor"
)

// censorSpecs is a --route or --policy flag, which may be given several times.
type censorSpecs []string

func (r *censorSpecs) String() string     { return strings.Join(*r, " ") }
func (r *censorSpecs) Set(s string) error { *r = append(*r, s); return nil }

func runCensor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("censor", `
Runs a censor you can test against: a TCP/UDP relay on loopback that applies published
censorship techniques to the flows it carries, and logs every decision (policy, flow,
verdict). Put it between a client and a gateway: the client dials the route's listen
address, the censor relays to the upstream.

Routes (--route NAME,TRANSPORT,tcp|udp,LISTEN,UPSTREAM, repeatable): TRANSPORT is a label
that policies (transport=) and kills select by. Loopback has all of 127.0.0.0/8, so a
gateway on 127.0.0.2 and a CDN front on 127.0.0.3 can be blocked apart.

`+censor.PolicyHelp+`

Admin (--admin, loopback only): GET /flows, GET /decisions, POST /kill?transport=T&mode=silent|reset|freeze
(or flow=ID, route=NAME), GET|PUT /policies (one policy a line), GET /ca.pem.

Example: a gateway's obfs4 on 127.0.0.2:443 and a CDN front on 127.0.0.3:443, China's
FET rule, then block the transport in use while data flows:
  umbrella censor --route obfs4,obfs4,tcp,127.0.0.1:9001,127.0.0.2:443 \
                  --route cdn,meek,tcp,127.0.0.1:9002,127.0.0.3:443 \
                  --policy fet:p=0.263 --admin 127.0.0.1:9090
  curl -X POST '127.0.0.1:9090/kill?transport=obfs4&mode=reset'
  curl -X PUT 127.0.0.1:9090/policies --data 'ip-block:transport=obfs4'`, stderr)
	var routeSpecs, policySpecs censorSpecs
	fs.Var(&routeSpecs, "route", "a relay `NAME,TRANSPORT,tcp|udp,LISTEN,UPSTREAM` (repeatable, at least one)")
	fs.Var(&policySpecs, "policy", "a policy `NAME[:KEY=VALUE]...` applied to new flows, in order (repeatable)")
	admin := fs.String("admin", "", "serve the admin API on this loopback `address` (127.0.0.1:PORT)")
	caOut := fs.String("ca-out", "", "write the censor's root CA certificate (PEM) to `file`, for clients of a mitm policy")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if len(routeSpecs) == 0 {
		fs.Usage()
		return errors.New("censor: at least one --route is required")
	}
	var routes []censor.Route
	for _, s := range routeSpecs {
		r, err := censor.ParseRoute(s)
		if err != nil {
			return fmt.Errorf("censor: --route: %w", err)
		}
		routes = append(routes, r)
	}
	policies, err := censor.ParsePolicies(policySpecs)
	if err != nil {
		return fmt.Errorf("censor: --policy: %w", err)
	}
	log, err := cli.NewLogger(stderr, *level)
	if err != nil {
		return err
	}
	c, err := censor.New(censor.Config{Routes: routes, Policies: policies, Logger: log})
	if err != nil {
		return fmt.Errorf("censor: %w", err)
	}
	defer c.Close()
	if *caOut != "" {
		// A CA certificate is public; its key never leaves the process.
		if err := os.WriteFile(*caOut, c.CACertPEM(), 0o644); err != nil {
			return fmt.Errorf("censor: --ca-out: %w", err)
		}
	}
	if *admin != "" {
		stop, err := serveAdmin(*admin, c.AdminHandler())
		if err != nil {
			return fmt.Errorf("censor: %w", err)
		}
		defer stop()
		fmt.Fprintf(stdout, "admin http://%s/\n", *admin)
	}
	for _, r := range c.Routes() {
		fmt.Fprintf(stdout, "route %s (%s %s): %s -> %s\n", r.Name, r.Transport, r.Network, r.Listen, r.Upstream)
	}
	for _, p := range c.Policies() {
		fmt.Fprintf(stdout, "policy %s\n", p)
	}
	return c.Run(ctx)
}
