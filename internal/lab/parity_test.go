package lab

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/probes/censor"
)

// parityProbes is how many random probes the prober sends each server besides the
// replay: several times the GFW's few, so that each kind of first byte comes up.
const parityProbes = 24

// TestActiveProbesTellNoSelfFrontedTLSListenerFromAWebsite runs the censor's active
// prober (Frolov et al., NDSS 2020: replay and random probes, reactions compared with
// an unrelated server's) with the lab's ordinary nginx HTTPS site as that server. The
// gateway's own TLS listeners, utls and the web transports (webtunnel, websocket, meek) fronting themselves, must
// not be flagged, and their sessions must go on; the tcp listener, which is silent by
// design, is flagged, which shows that the prober tells servers apart at all.
func TestActiveProbesTellNoSelfFrontedTLSListenerFromAWebsite(t *testing.T) {
	l := startLab(t, Options{Transports: []string{"tcp", "utls", "webtunnel", "websocket", "meek"}})
	l.Censor.SetPolicies(&censor.ActiveProbe{
		Reference: netip.MustParseAddrPort(l.Website),
		Wait:      2 * time.Second,
		Random:    parityProbes,
	})
	lines := append(directTLS(l), routes(l, "tcp")...)
	if got := routeNamesOf(lines); !slices.Contains(got, "utls") || !slices.Contains(got, "webtunnel") || !slices.Contains(got, "websocket") || !slices.Contains(got, "meek") {
		t.Fatalf("the lab has direct TLS lines %v, want utls, webtunnel, websocket and meek among them", got)
	}
	for _, ln := range lines {
		wantFlagged := ln.Bridge.Transport == "tcp"
		t.Run(ln.Route.Name, func(t *testing.T) {
			t.Parallel()
			c, err := l.Client(client.Config{Bridges: []bridge.Line{ln.Bridge}, HandshakeTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Only keeps a broken run from hanging; nothing is asserted about time.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := c.Connect(ctx); err != nil {
				t.Fatalf("connect: %v; client: %s", err, story(c.Events()))
			}
			flagged, err := probeVerdict(ctx, l, ln.Route.Upstream)
			if err != nil {
				t.Fatal(err)
			}
			if flagged != wantFlagged {
				t.Fatalf("flagged by the active prober: %v, want %v; censor:%s", flagged, wantFlagged, decisionsOn(l, []string{ln.Route.Name}))
			}
			if !wantFlagged {
				if err := echo(ctx, c, 1<<10); err != nil {
					t.Fatalf("the session after the probes: %v", err)
				}
			}
		})
	}
}
