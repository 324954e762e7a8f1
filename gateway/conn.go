package gateway

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"time"

	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// serveConn runs one carrier connection from accept to close: admission, the session
// handshake, then the session's streams.
func (g *Gateway) serveConn(ctx context.Context, l *listener, conn net.Conn) {
	accepted := time.Now()
	policy := g.policy.Load()
	log := g.log.With("transport", l.name)
	if g.cfg.LogClientIPs {
		log = log.With("client", conn.RemoteAddr().String())
	}

	// Admission before any work: a full gateway treats a peer like an unauthenticated
	// one, so load is not something a prober can observe either.
	select {
	case g.handshake <- struct{}{}:
	default:
		g.metrics.handshakes.WithLabelValues(l.name, "refused", "handshakes").Inc()
		g.reject(conn, nil, accepted, policy.HandshakeTimeout)
		return
	}
	if g.sessionCount() >= policy.MaxSessions {
		<-g.handshake
		g.metrics.handshakes.WithLabelValues(l.name, "refused", "sessions").Inc()
		g.reject(conn, nil, accepted, policy.HandshakeTimeout)
		return
	}

	hctx, cancel := context.WithTimeout(ctx, policy.HandshakeTimeout)
	sess, err := session.Server(hctx, conn, &session.ServerConfig{
		Identity:     g.cfg.Identity,
		Secrets:      policy.Secrets,
		Endpoint:     l.bridge.Endpoint(),
		Replay:       g.replay,
		Store:        g.store,
		Sessions:     g.live,
		ResumeGrace:  policy.ResumeGrace,
		ResumeBuffer: policy.ResumeBuffer,
		MaxStreams:   policy.MaxStreams,
		Budget:       g.budget,

		StreamOpenBurst: policy.StreamOpenBurst,
		StreamOpenRate:  policy.StreamOpenRate,
	})
	cancel()
	<-g.handshake
	switch {
	case errors.Is(err, session.ErrResumed):
		// The session's own goroutine, from its first carrier, serves its streams.
		g.metrics.handshakes.WithLabelValues(l.name, "ok", "").Inc()
		g.metrics.resumes.WithLabelValues("ok").Inc()
		id := sess.ID()
		log.Info("session resumed", "session", shortID(id[:]))
		return
	case errors.Is(err, session.ErrResumeRejected):
		// The client was told, signed, that its session is gone; it opens a new one.
		g.metrics.handshakes.WithLabelValues(l.name, "failed", "resume").Inc()
		g.metrics.resumes.WithLabelValues("rejected").Inc()
		log.Debug("resume rejected", "err", err)
		conn.Close()
		return
	case err != nil:
		reason, consumed := "error", []byte(nil)
		var he *session.HelloError
		if errors.As(err, &he) {
			reason, consumed = he.Reason, he.Consumed
		}
		g.metrics.handshakes.WithLabelValues(l.name, "failed", reason).Inc()
		if reason == "ticket" {
			g.metrics.resumes.WithLabelValues("rejected").Inc()
		}
		log.Debug("handshake failed", "reason", reason)
		g.reject(conn, consumed, accepted, policy.HandshakeTimeout)
		return
	}
	g.metrics.handshakes.WithLabelValues(l.name, "ok", "").Inc()

	if !g.addSession(sess) {
		sess.Close()
		return
	}
	defer g.removeSession(sess)
	g.metrics.sessions.WithLabelValues(l.name).Inc()
	defer g.metrics.sessions.WithLabelValues(l.name).Dec()
	id := sess.ID()
	log = log.With("session", shortID(id[:]))
	log.Info("session established")
	g.serveStreams(log, l.name, sess)
	if errors.Is(sess.Err(), session.ErrOverBudget) {
		log.Warn("session closed: it held the most buffered bytes when the memory budget ran out")
		return
	}
	log.Info("session ended")
}

// reject answers a peer that did not open a session with nothing distinguishable.
// HTTP-like transports serve their decoy site. Raw ones read and discard until a
// deadline drawn per connection and counted from accept, so neither what was sent
// nor this gateway's configuration shows in when the connection closes.
func (g *Gateway) reject(conn net.Conn, consumed []byte, accepted time.Time, t time.Duration) {
	if !g.holdRejected(conn) {
		conn.Close()
		return
	}
	defer g.releaseRejected(conn)
	if r, ok := conn.(transports.Rejecter); ok {
		r.Reject(consumed)
		return
	}
	deadline := accepted.Add(t + rand.N(t))
	conn.SetReadDeadline(deadline)
	io.Copy(io.Discard, conn)
	conn.Close()
}

// holdRejected records a rejected conn so that drain can close it; false means the
// gateway is draining already.
func (g *Gateway) holdRejected(conn net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining {
		return false
	}
	g.rejected[conn] = struct{}{}
	return true
}

func (g *Gateway) releaseRejected(conn net.Conn) {
	g.mu.Lock()
	delete(g.rejected, conn)
	g.mu.Unlock()
}

func (g *Gateway) sessionCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sessions)
}

func (g *Gateway) addSession(s *session.Session) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining {
		return false
	}
	g.sessions[s] = struct{}{}
	return true
}

func (g *Gateway) removeSession(s *session.Session) {
	g.mu.Lock()
	delete(g.sessions, s)
	g.mu.Unlock()
	s.Close()
}

func shortID(b []byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 8)
	for _, c := range b[:4] {
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}
