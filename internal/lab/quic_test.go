package lab

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/probes/censor"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/quic"
)

// hangGuard bounds waits that only turn a hang into a failure.
const hangGuard = 20 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// listenDiscarding starts a listener of tr with args on 127.0.0.1 that accepts carriers
// and closes them, until the test ends.
func listenDiscarding(t *testing.T, tr transports.Transport, args transports.Args) transports.Listener {
	t.Helper()
	ln, err := tr.Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: args, StateDir: t.TempDir()})
	if err != nil {
		t.Fatalf("%s Listen: %v", tr.Name(), err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// udpCensor runs the censor simulator on one UDP route, named transport, from a
// loopback address to upstream under policies, and returns the censor and the address
// clients dial.
func udpCensor(t *testing.T, transport, upstream string, policies ...censor.Policy) (*censor.Censor, string) {
	t.Helper()
	c, err := censor.New(censor.Config{
		Routes:   []censor.Route{{Name: transport, Transport: transport, Network: "udp", Listen: "127.0.0.1:0", Upstream: upstream}},
		Policies: policies,
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
	r, _ := c.Route(transport)
	return c, r.Listen
}

// TestQUICEndToEndThroughTheGateway runs client → quic → gateway → echo backend.
func TestQUICEndToEndThroughTheGateway(t *testing.T) {
	b := StartGateway(t, WithListener(quic.New(nil), "127.0.0.1:0", "", transports.Args{"servername": ServerName})).Bridge()
	if got := b.Args["servername"]; got != ServerName {
		t.Fatalf("bridge line servername=%q; want %q", got, ServerName)
	}
	if got := carried(t, quic.New(nil), b, 1<<20); got != quic.Name {
		t.Fatalf("transfer went over %q; want %q", got, quic.Name)
	}
}

// TestQUICGatewayServesTheSiteToProbers sends what a prober that knows the carrier's
// framing but not the bridge secret can send, then a request on the same stream: the
// gateway rejects the carrier and the request gets the page a browser gets.
func TestQUICGatewayServesTheSiteToProbers(t *testing.T) {
	b := StartGateway(t, WithListener(quic.New(nil), "127.0.0.1:0", "", transports.Args{"servername": ServerName})).Bridge()
	code, want := webtest.BuiltInPage(t, ServerName, "/")
	for _, prefix := range [][]byte{nil, webtest.QUICCarrierFrames(0), webtest.QUICCarrierFrames(2316), webtest.QUICCarrierFrames(20, 20, 20)} {
		peer := webtest.DialH3(t, b.Addr, ServerName)
		status, body := peer.Get(t, prefix, "/")
		if status != strconv.Itoa(code) || string(body) != string(want) {
			t.Errorf("GET after %d bytes of carrier frames = %s with %d bytes; want %d with the site's %d bytes", len(prefix), status, len(body), code, len(want))
		}
	}
}

// TestQUICCensorPolicies dials through the censor simulator: with no policy the carrier
// comes up; under each policy that blocks QUIC the dial fails as a handshake failure
// (not the caller's deadline), after a timeout learned from the first dial.
//
// The QUIC part of the sni policy reads the SNI from a flow's first datagram only, as
// the GFW does (Zohaib et al., USENIX Security 2025). quic-go cuts the SNI of every
// client Initial in two and sends the second half last ("ClientHello scrambling"), so
// that first datagram never holds the whole name: the policy passes quic. A censor
// that reassembles Initials across datagrams would stop it.
func TestQUICCensorPolicies(t *testing.T) {
	tests := []struct {
		policy  string
		blocked bool
		reason  string // in the censor's decision
	}{
		{"udp-block", true, "all UDP is blocked"},
		{"tspu-quic:port=any", true, "QUIC v1 long header"}, // Russia's 2022 rule, on the lab's port
		{"sni:block=" + ServerName, false, "no SNI in the first datagram"},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			ln := listenDiscarding(t, quic.New(nil), transports.Args{"servername": ServerName})
			c, addr := udpCensor(t, quic.Name, ln.Addr().String())
			d, err := quic.New(nil).NewDialer(addr, ln.BridgeArgs())
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
			case tt.blocked && (!errors.Is(err, quic.ErrHandshake) || errors.Is(err, context.DeadlineExceeded)):
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
