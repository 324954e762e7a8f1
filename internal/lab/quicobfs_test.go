package lab

import (
	"errors"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/probes/censor"
	"github.com/umbrella-edge/edge/transports/quic"
	"github.com/umbrella-edge/edge/transports/quicobfs"
)

// TestQUICObfsEndToEndThroughTheGateway runs client → quicobfs → gateway → echo backend.
func TestQUICObfsEndToEndThroughTheGateway(t *testing.T) {
	b := StartGateway(t, WithListener(quicobfs.New(), "127.0.0.1:0", "", nil)).Bridge()
	if _, err := quicobfs.DecodeKey(b.Args["cert"]); err != nil {
		t.Fatalf("bridge line cert=: %v", err)
	}
	if got := carried(t, quicobfs.New(), b, 1<<20); got != quicobfs.Name {
		t.Fatalf("transfer went over %q; want %q", got, quicobfs.Name)
	}
}

// TestQUICObfsCensorPolicies dials through the censor simulator. Policies that read QUIC
// (the server name of China's filter, the version field of Russia's 2022 rule) find
// nothing to read in masked datagrams and let them pass; blocking all UDP stops
// quicobfs as it stops quic.
func TestQUICObfsCensorPolicies(t *testing.T) {
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
			ln := listenDiscarding(t, quicobfs.New(), nil)
			p, err := censor.ParsePolicy(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			c, addr := udpCensor(t, quicobfs.Name, ln.Addr().String(), p)
			d, err := quicobfs.New().NewDialer(addr, ln.BridgeArgs())
			if err != nil {
				t.Fatal(err)
			}
			conn, err := d.Dial(testContext(t))
			if err == nil {
				conn.Close()
			}
			switch {
			case tt.blocked && !errors.Is(err, quic.ErrHandshake):
				t.Fatalf("Dial through %s: %v; want ErrHandshake (the censor decided %v)", tt.policy, err, c.Decisions())
			case !tt.blocked && err != nil:
				t.Fatalf("Dial through %s: %v; want it to pass (the censor decided %v)", tt.policy, err, c.Decisions())
			}
			for _, dec := range c.Decisions() {
				if dec.Policy == p.Name() && (dec.Verdict == censor.Drop) != tt.blocked {
					t.Fatalf("%s decided %s (%s)", dec.Policy, dec.Verdict, dec.Reason)
				}
				if dec.Policy == p.Name() && !strings.Contains(dec.Reason, tt.reason) {
					t.Fatalf("%s decided %s because %q; want a reason saying %q", dec.Policy, dec.Verdict, dec.Reason, tt.reason)
				}
			}
		})
	}
}
