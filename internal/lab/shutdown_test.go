package lab

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/probes/censor"
)

// shutdownTransfer is issue 14's transfer through the shutdown: 1 MB.
const shutdownTransfer = 1 << 20

// TestShutdown is issue 14's: a network shut down to DNS only, as Iran's were in 2019,
// 2022 and 2026 and Russia's mobile networks are under whitelists. Every TCP flow is
// blackholed after its first segment, no UDP passes but DNS to the network's resolver
// (the lab's unbound). Two users' clients, each with the nine lines of issue 11's trial
// and a dns line, end up on dns; their chats lose nothing, and a 1 MB transfer
// completes. How long connecting takes is the bench's to measure.
func TestShutdown(t *testing.T) {
	l := startLab(t, Options{Resolver: true})
	lines := append(l.OnePerTransport(), transport(l, "dns")...)
	if len(lines) != 10 {
		t.Fatalf("the lab has %d of the ten lines: %v", len(lines), labels(lines))
	}
	l.Censor.SetPolicies(&censor.Whitelist{DNS: netip.MustParseAddrPort(l.Resolver)})
	// Only keeps a broken run from hanging; nothing is asserted about time.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var users [2]*Client
	var chats [2]*Chatter
	for i := range users {
		c, err := l.Client(client.Config{Bridges: bridgesOf(lines)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		users[i] = c
		if chats[i], err = StartChat(ctx, c, 100*time.Millisecond); err != nil {
			t.Fatalf("user %d: %v\nclient: %s\ncensor:%s", i, err, story(c.Events()), decisionsOn(l, routeNamesOf(lines)))
		}
	}
	if err := echo(ctx, users[0], shutdownTransfer); err != nil {
		t.Fatalf("transfer of %d KiB: %v\nclient: %s", shutdownTransfer>>10, err, story(users[0].Events()))
	}
	for i, c := range users {
		st, err := carrierOf(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := lines[st.Bridge]; got.Bridge.Transport != "dns" {
			t.Errorf("user %d is on %s; want dns, the only way through\nclient: %s", i, label(got), story(c.Events()))
		}
		r := chats[i].Stop(time.Minute)
		if r.Err != nil || r.Sent == 0 || r.Received != r.Sent {
			t.Errorf("user %d's chat: %d sent, %d echoed, error %v; want every message back", i, r.Sent, r.Received, r.Err)
		}
		t.Logf("user %d: %d messages echoed; client: %s", i, r.Received, story(c.Events()))
		for _, e := range c.Events() {
			if e.Err != nil {
				t.Logf("  %s %s: %v", e.Kind, e.Name, e.Err)
			}
		}
	}
	// What the clients tried before dns, the shutdown blocked; nothing else passed.
	blocked := 0
	for _, d := range l.Censor.Decisions() {
		if d.Flow.Route == "dns" {
			continue
		}
		if !blockedBy("whitelist")(d) {
			t.Errorf("the censor let a flow on route %s through: %s %s", d.Flow.Route, d.Verdict, d.Reason)
		}
		blocked++
	}
	if blocked == 0 {
		t.Error("the clients tried no line but dns; the trial is of one that must find the others closed")
	}
}
