package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/probes/censor"
)

// An escalation is one of the censor's moves against the transport alice is on: a
// published technique as a policy for new connections, and a cut of the running ones.
type escalation struct {
	name string
	// fits reports whether the technique catches transport.
	fits   func(transport string) bool
	policy func(transport string) censor.Policy
	cut    censor.KillMode
	// tell says what the censor does, in plain words; %[1]s is the transport.
	tell string
}

// The transports whose first bytes look like random noise, which China's rule against
// fully encrypted traffic catches, and those that speak TLS, which an SNI list catches.
var (
	randomLooking = []string{"tcp", "obfs4", "pt"}
	speaksTLS     = []string{"utls", "webtunnel", "websocket", "meek"}
)

func oneOf(names []string) func(string) bool {
	return func(n string) bool { return slices.Contains(names, n) }
}

// escalations are tried in order, each against the transport alice is on then; one
// that does not catch that transport waits for its turn.
var escalations = []escalation{
	{name: "fet", fits: oneOf(randomLooking), cut: censor.KillSilent,
		policy: func(string) censor.Policy { return &censor.FET{P: 1} },
		tell: "blocks %[1]s with China's rule against fully encrypted traffic (fet): its first bytes look random, " +
			"so the censor drops it silently, and every new connection that looks the same (" + strings.Join(randomLooking, ", ") + ")"},
	{name: "sni", fits: oneOf(speaksTLS), cut: censor.KillReset,
		policy: func(t string) censor.Policy {
			return &censor.SNI{Scope: censor.Scope{Transports: []string{t}}, Block: []string{lab.ServerName}, Action: censor.Reset}
		},
		tell: "blocks %[1]s by SNI: TLS naming " + lab.ServerName + " on %[1]s's address gets a reset, running connections too"},
	{name: "freeze", fits: func(string) bool { return true }, cut: censor.KillFreeze,
		policy: func(t string) censor.Policy { return &censor.Freeze{Scope: censor.Scope{Transports: []string{t}}} },
		tell: "freezes %[1]s as Russia's TSPU does: nothing more reaches the client while what it sends still passes; " +
			"new %[1]s connections freeze after 14–20 KB"},
}

// escalate has the censor block the transport alice is on, once per escalation, and
// tells how the clients move on. It returns what the censor did, one item per move.
func (d *demo) escalate(ctx context.Context, w *world, ch *chat, messages int) ([]string, error) {
	todo := slices.Clone(escalations)
	var policies []censor.Policy
	var done []string
	for i := 1; len(todo) > 0; i++ {
		target := ch.a.client.Active()
		j := max(slices.IndexFunc(todo, func(e escalation) bool { return e.fits(target) }), 0)
		e := todo[j]
		todo = slices.Delete(todo, j, j+1)
		d.say("\ncensor    escalation %d/%d: %s", i, len(escalations), fmt.Sprintf(e.tell, target))
		policies = append(policies, e.policy(target))
		w.censor.SetPolicies(policies...)
		at := time.Now()
		var cut []*chatter
		for _, c := range []*chatter{ch.a, ch.b} {
			if c.client.Active() == target {
				for len(c.moved) > 0 { // moves told already, not this cut's
					<-c.moved
				}
				c.cutAt.Store(at.UnixNano())
				cut = append(cut, c)
			}
		}
		d.say("censor    cuts %s (%s)", connections(cut, target), e.cut)
		if _, err := w.censor.Kill(censor.Selector{Transport: target}, e.cut); err != nil {
			return done, err
		}
		for _, c := range cut {
			if err := awaitMove(ctx, c); err != nil {
				return done, err
			}
		}
		// Nothing lost: what either sent up to now, through the cut, has arrived.
		aSent, bSent := ch.a.sent.Load(), ch.b.sent.Load()
		if err := ch.waitFor(ctx, bSent, aSent); err != nil {
			return done, err
		}
		d.say("          nothing lost: every message sent so far has arrived in order (alice's %d, bob's %d)", aSent, bSent)
		done = append(done, fmt.Sprintf("%s on %s", e.name, target))
		if err := ch.waitEach(ctx, int64(messages)); err != nil {
			return done, err
		}
	}
	return done, nil
}

// connections names the cut connections: "alice's and bob's utls connections".
func connections(cut []*chatter, transport string) string {
	names := make([]string, len(cut))
	for i, c := range cut {
		names[i] = c.name + "'s"
	}
	if len(cut) == 1 {
		return names[0] + " " + transport + " connection"
	}
	return strings.Join(names, " and ") + " " + transport + " connections"
}

// awaitMove waits until c's session has resumed on another carrier, as watch tells.
func awaitMove(ctx context.Context, c *chatter) error {
	guard := time.NewTimer(moveGuard)
	defer guard.Stop()
	select {
	case err := <-c.moved:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-guard.C:
		return fmt.Errorf("%s did not resume its session within %v of the cut", c.name, moveGuard)
	}
}

// human prints a duration the way a person says it: 310 ms, 2.41 s.
func human(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
