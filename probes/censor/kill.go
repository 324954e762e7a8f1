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
	// killClose ends a flow when the censor closes.
	killClose KillMode = "close"
)

// ParseKillMode reads "silent" or "reset".
func ParseKillMode(s string) (KillMode, error) {
	switch m := KillMode(s); m {
	case KillSilent, KillReset:
		return m, nil
	}
	return "", fmt.Errorf("kill mode %q: want silent or reset", s)
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
	if mode != KillSilent && mode != KillReset {
		return 0, fmt.Errorf("kill mode %q: want silent or reset", mode)
	}
	return c.killWhere(sel.matches, mode, "kill", "killed on command"), nil
}

// killWhere cuts the flows match selects, logging each as policy's decision.
func (c *Censor) killWhere(match func(Flow) bool, mode KillMode, policy, reason string) int {
	c.mu.Lock()
	var victims []flowHandle
	for _, f := range c.flows {
		if st := f.status(); !st.Stopped && match(st.Flow) {
			victims = append(victims, f)
		}
	}
	c.mu.Unlock()
	verdict := Drop
	if mode == KillReset {
		verdict = Reset
	}
	for _, f := range victims {
		c.decisions.add(policy, f.status().Flow, verdict, reason)
		f.kill(mode)
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
