package censor

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// A KillMode says how Kill cuts a flow.
type KillMode string

const (
	// KillSilent stops relaying both ways and keeps the sockets open: the censor reads
	// and discards what each side sends, and nothing, not even a FIN, reaches the
	// other. Each side sees a peer that went quiet, as when a censor starts dropping a
	// flow's packets; each socket is closed when its own peer closes it.
	KillSilent KillMode = "silent"
	// KillReset closes both sockets with a TCP RST (SO_LINGER 0). A UDP flow just
	// stops, as UDP has nothing to reset.
	KillReset KillMode = "reset"
	// KillFreeze drops the server→client direction from now on and keeps relaying
	// client→server, with both sockets open: the client's bytes still arrive but
	// nothing of the server's reaches it, as when Russia's TSPU freezes a connection
	// mid-flow. A UDP flow has no direction to keep and stops as with KillSilent.
	KillFreeze KillMode = "freeze"
	// killClose ends a flow when the censor closes.
	killClose KillMode = "close"
)

// ParseKillMode reads "silent", "reset" or "freeze".
func ParseKillMode(s string) (KillMode, error) {
	switch m := KillMode(s); m {
	case KillSilent, KillReset, KillFreeze:
		return m, nil
	}
	return "", fmt.Errorf("kill mode %q: want silent, reset or freeze", s)
}

// A Selector chooses the flows Kill cuts: those matching every field set. At least
// one field must be set.
type Selector struct {
	// Flow is a flow's ID (from Flows or a Decision).
	Flow uint64 `json:"flow,omitempty"`
	// Route is a route's name.
	Route string `json:"route,omitempty"`
	// Transport is a route's transport label: every flow of that transport.
	Transport string `json:"transport,omitempty"`
}

// ErrEmptySelector is returned by Kill for a selector that names nothing, so a typo
// cannot cut every flow.
var ErrEmptySelector = errors.New("kill: the selector names no flow, route or transport")

func (s Selector) matches(f Flow) bool {
	return (s.Flow == 0 || s.Flow == f.ID) && (s.Route == "" || s.Route == f.Route) &&
		(s.Transport == "" || s.Transport == f.Transport)
}

// Kill cuts every running flow sel matches and returns how many it cut. Each cut is a
// Decision of the policy "kill".
func (c *Censor) Kill(sel Selector, mode KillMode) (int, error) {
	if sel == (Selector{}) {
		return 0, ErrEmptySelector
	}
	if _, err := ParseKillMode(string(mode)); err != nil {
		return 0, err
	}
	reason := "killed on command"
	if mode == KillFreeze {
		reason = "server→client frozen on command"
	}
	return c.killWhere(sel.matches, mode, "kill", reason), nil
}

// A freezer is a flow that can stop one direction and keep the other.
type freezer interface {
	freeze()
}

// freeze makes the server→client pump drop what it reads from now on; a write in
// progress finishes.
func (f *tcpFlow) freeze() { f.frozen.Store(true) }

// killWhere cuts the running flows match selects, logging each as policy's decision.
// A freeze passes over flows frozen already, so the count says what changed.
func (c *Censor) killWhere(match func(Flow) bool, mode KillMode, policy, reason string) int {
	c.mu.Lock()
	var victims []flowHandle
	for _, f := range c.flows {
		if st := f.status(); !st.Stopped && !(mode == KillFreeze && st.Frozen) && match(st.Flow) {
			victims = append(victims, f)
		}
	}
	c.mu.Unlock()
	verdict := Drop
	switch mode {
	case KillReset:
		verdict = Reset
	case KillFreeze:
		verdict = Frozen
	}
	for _, f := range victims {
		c.decisions.add(policy, f.status().Flow, verdict, reason)
		switch fz, ok := f.(freezer); {
		case mode != KillFreeze:
			f.kill(mode)
		case ok:
			fz.freeze()
		default:
			f.kill(KillSilent) // a UDP flow has no direction to keep
		}
	}
	return len(victims)
}

// FlowStatus is a running flow and what it has carried.
type FlowStatus struct {
	Flow
	// Stopped is true once the flow relays nothing more (dropped, killed).
	Stopped bool `json:"stopped"`
	// Frozen is true once a freeze stopped its server→client direction.
	Frozen bool `json:"frozen"`
	// Bytes relayed each way.
	ClientToServer int64 `json:"client_to_server"`
	ServerToClient int64 `json:"server_to_client"`
	// Dropped counts the bytes the censor read and did not relay, both ways.
	Dropped int64 `json:"dropped"`
}

// Flows returns the running flows, oldest first.
func (c *Censor) Flows() []FlowStatus {
	c.mu.Lock()
	out := make([]FlowStatus, 0, len(c.flows))
	for _, f := range c.flows {
		out = append(out, f.status())
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b FlowStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
