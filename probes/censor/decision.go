package censor

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// A Verdict is what the censor did to a flow.
type Verdict string

// Verdicts. Drop and Reset end what a flow can carry; the others shape or watch it.
const (
	// Pass lets the flow through as it is.
	Pass Verdict = "pass"
	// Drop relays nothing more, silently: sockets stay open and no FIN or RST is sent,
	// as when a middlebox discards a flow's packets.
	Drop Verdict = "drop"
	// Reset closes both sides with a TCP RST (SO_LINGER 0).
	Reset Verdict = "reset"
	// Frozen: one direction stops silently after a byte budget, the rest of the flow
	// still passing.
	Frozen Verdict = "frozen"
	// Throttled: the flow is policed to a rate.
	Throttled Verdict = "throttled"
	// Intercepted: the flow's TLS is terminated with a certificate from the censor's CA.
	Intercepted Verdict = "intercepted"
	// Probed: the censor sent active probes to the flow's server.
	Probed Verdict = "probed"
	// Refused: the client refused the interception's certificate and aborted its
	// TLS handshake, as a browser that does not trust the censor's CA does; the
	// decision's Reaction says how.
	Refused Verdict = "refused"
)

// undecided is a datagramsJudge's answer while it needs the flow's next datagram; it is
// never logged.
const undecided Verdict = "undecided"

// blocks reports whether v ends what a flow can carry.
func (v Verdict) blocks() bool { return v == Drop || v == Reset }

// A Flow is one connection (TCP) or one client address (UDP) through a route.
type Flow struct {
	ID        uint64         `json:"id"`
	Route     string         `json:"route"`
	Transport string         `json:"transport"`
	Network   string         `json:"network"`
	Client    netip.AddrPort `json:"client"`
	Upstream  netip.AddrPort `json:"upstream"`
}

func (f Flow) String() string {
	return fmt.Sprintf("#%d %s %s→%s (%s %s)", f.ID, f.Network, f.Client, f.Upstream, f.Route, f.Transport)
}

// A Decision is one policy's judgement of one flow, in the order the censor made them.
type Decision struct {
	Time    time.Time `json:"time"`
	Policy  string    `json:"policy"`
	Flow    Flow      `json:"flow"`
	Verdict Verdict   `json:"verdict"`
	// Reason says which rule matched and on what ("exempt: first 6 bytes printable").
	Reason string `json:"reason"`
	// Reaction is, for Refused, what the client did.
	Reaction *Reaction `json:"reaction,omitempty"`
}

// maxDecisions bounds the decision log a long-running censor keeps in memory; the
// slog output has them all.
const maxDecisions = 10000

// decisionLog records decisions in memory, to the logger and to a callback.
type decisionLog struct {
	log      *slog.Logger
	callback func(Decision)

	mu   sync.Mutex
	list []Decision
}

func (l *decisionLog) add(policy string, f Flow, v Verdict, reason string) {
	l.addDecision(Decision{Time: time.Now(), Policy: policy, Flow: f, Verdict: v, Reason: reason})
}

func (l *decisionLog) addDecision(d Decision) {
	policy, f, v, reason := d.Policy, d.Flow, d.Verdict, d.Reason
	l.mu.Lock()
	if len(l.list) == maxDecisions {
		l.list = append(l.list[:0], l.list[maxDecisions/2:]...)
	}
	l.list = append(l.list, d)
	l.mu.Unlock()
	// A lab censor's log is its product: every decision goes out, passes included.
	l.log.Info("decision", "policy", policy, "verdict", string(v), "flow", f.String(), "reason", reason)
	if l.callback != nil {
		l.callback(d)
	}
}

func (l *decisionLog) snapshot() []Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Decision(nil), l.list...)
}
