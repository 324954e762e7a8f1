package quic

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/probes/censor"
	"github.com/umbrella-edge/edge/transports"
)

// startCensor relays UDP from a loopback address to upstream, labelled transport, and
// returns the censor and the address clients dial.
func startCensor(t *testing.T, transport, upstream string) (*censor.Censor, string) {
	t.Helper()
	c, err := censor.New(censor.Config{Routes: []censor.Route{
		{Name: transport, Transport: transport, Network: "udp", Listen: "127.0.0.1:0", Upstream: upstream},
	}})
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
	r, _ := c.Route(transport)
	return c, r.Listen
}

// acceptAndClose accepts carriers until ln closes, closing each.
func acceptAndClose(ln transports.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// TestCensorPolicies dials through the censor simulator: with no policy the carrier
// comes up; under each policy that blocks QUIC the dial fails as a handshake failure
// (not the caller's deadline), after a timeout learned from the first dial.
//
// The QUIC part of the sni policy reads the SNI from a flow's first datagram only, as
// the GFW does (Zohaib et al., USENIX Security 2025). quic-go cuts the SNI of every
// client Initial in two and sends the second half last ("ClientHello scrambling"), so
// that first datagram never holds the whole name: the policy passes quic. A censor
// that reassembles Initials across datagrams would stop it.
func TestCensorPolicies(t *testing.T) {
	tests := []struct {
		policy  string
		blocked bool
		reason  string // in the censor's decision
	}{
		{"udp-block", true, "all UDP is blocked"},
		{"tspu-quic:port=any", true, "QUIC v1 long header"}, // Russia's 2022 rule, on the lab's port
		{"sni:block=" + testServerName, false, "no SNI in the first datagram"},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			ln := listenLoopback(t)
			go acceptAndClose(ln)
			c, addr := startCensor(t, Name, ln.Addr().String())
			d, err := newDialer(addr, ln.BridgeArgs())
			if err != nil {
				t.Fatal(err)
			}
			conn, err := d.Dial(testContext(t))
			if err != nil {
				t.Fatalf("Dial through the censor with no policy: %v", err)
			}
			conn.Close()

			p, err := censor.ParsePolicy(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			c.SetPolicies(p)
			conn, err = d.Dial(testContext(t))
			if err == nil {
				conn.Close()
			}
			switch {
			case tt.blocked && err == nil:
				t.Fatalf("Dial through %s succeeded; the censor decided %v", tt.policy, c.Decisions())
			case tt.blocked && (!errors.Is(err, ErrHandshake) || errors.Is(err, context.DeadlineExceeded)):
				t.Fatalf("Dial through %s: %v; want ErrHandshake from the handshake timeout", tt.policy, err)
			case !tt.blocked && err != nil:
				t.Fatalf("Dial through %s: %v; want it to pass (the censor decided %v)", tt.policy, err, c.Decisions())
			}
			var found bool
			for _, dec := range c.Decisions() {
				found = found || dec.Policy == p.Name() && strings.Contains(dec.Reason, tt.reason)
			}
			if !found {
				t.Fatalf("no %s decision saying %q: %v", p.Name(), tt.reason, c.Decisions())
			}
		})
	}
}
