package quicobfs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/probes/censor"
	"github.com/umbrella-edge/edge/transports/quic"
)

// startCensor relays UDP from a loopback address to upstream under policy and returns
// the censor and the address clients dial.
func startCensor(t *testing.T, upstream string, policy censor.Policy) (*censor.Censor, string) {
	t.Helper()
	c, err := censor.New(censor.Config{
		Routes:   []censor.Route{{Name: Name, Transport: Name, Network: "udp", Listen: "127.0.0.1:0", Upstream: upstream}},
		Policies: []censor.Policy{policy},
	})
	if err != nil {
		t.Fatalf("censor.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		c.Close()
		<-done
	})
	r, _ := c.Route(Name)
	return c, r.Listen
}

// TestCensorPolicies dials through the censor simulator. Policies that read QUIC
// (the server name of China's filter, the version field of Russia's 2022 rule) find
// nothing to read in masked datagrams and let them pass; blocking all UDP stops
// quicobfs as it stops quic.
func TestCensorPolicies(t *testing.T) {
	tests := []struct {
		policy  string
		blocked bool
		reason  string // in a decision of the policy's, when it makes one
	}{
		{"sni:block=www.example.com,quicobfs.invalid", false, ""}, // not QUIC: nothing to judge
		{"tspu-quic:port=any", false, "no QUIC long header"},
		{"quic-block", false, "not QUIC"},
		{"udp-block", true, "all UDP is blocked"},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			ln := listenLoopback(t, "")
			p, err := censor.ParsePolicy(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			c, addr := startCensor(t, ln.Addr().String(), p)
			conn, err := dialerTo(t, addr, ln.BridgeArgs()).Dial(testContext(t))
			if err == nil {
				conn.Close()
			}
			switch {
			case tt.blocked && !errors.Is(err, quic.ErrHandshake):
				t.Fatalf("Dial through %s: %v; want ErrHandshake (the censor decided %v)", tt.policy, err, c.Decisions())
			case !tt.blocked && err != nil:
				t.Fatalf("Dial through %s: %v; want it to pass (the censor decided %v)", tt.policy, err, c.Decisions())
			}
			for _, d := range c.Decisions() {
				if d.Policy == p.Name() && (d.Verdict == censor.Drop) != tt.blocked {
					t.Fatalf("%s decided %s (%s)", d.Policy, d.Verdict, d.Reason)
				}
				if d.Policy == p.Name() && !strings.Contains(d.Reason, tt.reason) {
					t.Fatalf("%s decided %s because %q; want a reason saying %q", d.Policy, d.Verdict, d.Reason, tt.reason)
				}
			}
		})
	}
}
