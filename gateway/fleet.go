package gateway

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"

	"github.com/umbrella-edge/edge/session"
)

// joinFleet puts the fleet's shared state in front of this process's own, when the
// gateway is an edge of a fleet: the replay cache checks the journal, then Redis; the
// session store is the fleet's directory.
func (g *Gateway) joinFleet() {
	f := g.cfg.Fleet
	if f == nil {
		return
	}
	g.replay = f.ReplayCache(g.journal)
	g.store = f.Directory()
	g.metrics.registry.MustRegister(f.Collectors()...)
}

// secrets are the policy's secrets that the fleet has not revoked.
func (g *Gateway) secrets(p *Policy) []session.Secret {
	if g.cfg.Fleet == nil {
		return p.Secrets
	}
	return g.cfg.Fleet.Allowed(p.Secrets)
}

// bridgeSecret is the secret printed in bridge lines: the first the fleet has not
// revoked, or, if it revoked them all, the first configured (which no edge accepts:
// the operator must add one).
func (g *Gateway) bridgeSecret() session.Secret {
	p := g.policy.Load()
	if s := g.secrets(p); len(s) > 0 {
		return s[0]
	}
	return p.Secrets[0]
}

// relayer is what a resume hello for a session this edge does not hold goes to.
func (g *Gateway) relayer() session.Relayer {
	if g.cfg.Fleet == nil {
		return nil
	}
	return g.cfg.Fleet
}

// serveLink serves the fleet's link, if any, beside the listeners; the returned func
// stops it.
func (g *Gateway) serveLink(ctx context.Context, loops *sync.WaitGroup) (stop func()) {
	if g.cfg.Fleet == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	loops.Go(func() { g.cfg.Fleet.ServeLink(ctx, g.answerHandoff) })
	return cancel
}

// answerHandoff answers a resume hello that another edge relayed for a session this
// one holds; the session takes the link's connection as its carrier.
func (g *Gateway) answerHandoff(ctx context.Context, conn net.Conn, from string, h *session.Handoff) {
	policy := g.policy.Load()
	hctx, cancel := context.WithTimeout(ctx, policy.HandshakeTimeout)
	defer cancel()
	sess, err := session.ServeHandoff(hctx, conn, h, g.serverConfig(policy, h.Endpoint))
	log := g.log.With("transport", h.Endpoint.Transport, "from_edge", from)
	switch {
	case errors.Is(err, session.ErrResumeRejected):
		g.cfg.Fleet.CountHandoff("rejected")
		g.metrics.resumes.WithLabelValues("rejected").Inc()
		log.Debug("relayed resume rejected", "err", err)
		conn.Close()
	case err != nil:
		var he *session.HelloError
		result := "error"
		if errors.As(err, &he) {
			result = "refused"
		}
		g.cfg.Fleet.CountHandoff(result)
		log.Debug("relayed resume failed", "err", err)
		conn.Close()
	default:
		g.cfg.Fleet.CountHandoff("resumed")
		g.metrics.resumes.WithLabelValues("ok").Inc()
		id := sess.ID()
		log.Info("session resumed through another edge", "session", shortID(id[:]))
	}
}

// revokeRemoved tells the fleet that the secrets the operator took out of this
// edge's config are revoked: every edge refuses them within seconds.
func (g *Gateway) revokeRemoved(ctx context.Context, old, now []session.Secret) {
	if g.cfg.Fleet == nil {
		return
	}
	var gone []session.Secret
	for _, s := range old {
		if !slices.Contains(now, s) {
			gone = append(gone, s)
		}
	}
	if len(gone) == 0 {
		return
	}
	if err := g.cfg.Fleet.RevokeSecrets(ctx, gone...); err != nil {
		g.log.Warn("revoked secrets removed from the config on this edge only, for now", "secrets", len(gone), "err", err)
		return
	}
	g.log.Info("revoked secrets removed from the config, for the whole fleet", "secrets", len(gone))
}
