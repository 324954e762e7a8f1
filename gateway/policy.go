package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/umbrella-edge/edge/session"
)

// Policy is the part of a gateway's configuration that Reload can change while it
// runs: the secrets (to rotate one, or revoke one that leaked) and the limits.
type Policy struct {
	Secrets          []session.Secret
	HandshakeTimeout time.Duration
	MaxSessions      int
	MaxStreams       int
	ResumeGrace      time.Duration
	ResumeBuffer     int
	// MemoryBudget applies at once to every session; the others, to new sessions.
	MemoryBudget    int64
	StreamOpenBurst int
	StreamOpenRate  float64
}

// Reload replaces the policy for carriers accepted from now on; a zero limit keeps
// the current one. Established sessions keep theirs, except the memory budget, which
// they share: a lower one closes the heaviest sessions until the rest fit. In a fleet,
// a secret the new policy no longer holds is revoked for every edge.
func (g *Gateway) Reload(p Policy) error {
	if len(p.Secrets) == 0 {
		return errors.New("gateway: reload: no bridge secret")
	}
	cur := g.policy.Load()
	if p.HandshakeTimeout <= 0 {
		p.HandshakeTimeout = cur.HandshakeTimeout
	}
	if p.MaxSessions <= 0 {
		p.MaxSessions = cur.MaxSessions
	}
	if p.MaxStreams <= 0 {
		p.MaxStreams = cur.MaxStreams
	}
	if p.ResumeGrace <= 0 {
		p.ResumeGrace = cur.ResumeGrace
	}
	if p.ResumeBuffer <= 0 {
		p.ResumeBuffer = cur.ResumeBuffer
	}
	if p.MemoryBudget <= 0 {
		p.MemoryBudget = cur.MemoryBudget
	}
	if p.StreamOpenBurst <= 0 {
		p.StreamOpenBurst = cur.StreamOpenBurst
	}
	if p.StreamOpenRate <= 0 {
		p.StreamOpenRate = cur.StreamOpenRate
	}
	g.policy.Store(&p)
	g.revokeRemoved(context.Background(), cur.Secrets, p.Secrets)
	g.budget.SetLimit(p.MemoryBudget)
	for _, l := range g.listeners {
		l.pool.SetHold(p.HandshakeTimeout)
	}
	return nil
}
