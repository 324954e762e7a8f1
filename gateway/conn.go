package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports/admission"
)

// serveConn runs one carrier connection from accept to close: admission, the session
// handshake, then the session's streams.
func (g *Gateway) serveConn(ctx context.Context, l *listener, conn net.Conn) {
	accepted := time.Now()
	policy := g.policy.Load()
	log := l.log
	if g.cfg.LogClientIPs {
		log = log.With("client", conn.RemoteAddr().String())
	}

	// Admission before any work. A full listener never turns a newcomer away: it
	// evicts an old idle peer, the flood's, by cancelling its handshake. A full
	// gateway treats a peer like an unauthenticated one, so load is not something a
	// prober can observe either.
	hctx, cancel := context.WithTimeout(ctx, policy.HandshakeTimeout)
	defer cancel()
	ticket := l.pool.Admit(conn, cancel)
	if g.sessionCount() >= policy.MaxSessions {
		ticket.Release()
		g.metrics.handshakes.WithLabelValues(l.name, "refused", "sessions").Inc()
		g.reject(l, conn, nil, accepted)
		return
	}
	carrier := g.awaitFirstBytes(hctx, conn, ticket)
	sess, outcome, err := session.Server(hctx, carrier, g.serverConfig(policy, l.endpoint))
	evicted := ticket.Release()
	switch {
	case errors.Is(err, session.ErrResumeRejected):
		// The client was told, signed, that its session is gone; it opens a new one.
		g.metrics.handshakes.WithLabelValues(l.name, "failed", "resume").Inc()
		g.metrics.resumes.WithLabelValues("rejected").Inc()
		log.Debug("resume rejected", "err", err)
		conn.Close()
		return
	case err != nil:
		result, reason, consumed := failure(err, evicted, carrier.Spoke())
		g.metrics.handshakes.WithLabelValues(l.name, result, reason).Inc()
		if reason == "ticket" {
			g.metrics.resumes.WithLabelValues("rejected").Inc()
		}
		log.Debug("handshake failed", "reason", reason)
		g.reject(l, conn, consumed, accepted)
		return
	case outcome == session.Relayed:
		// The carrier is the fleet's now, joined to the edge holding the session.
		g.metrics.handshakes.WithLabelValues(l.name, "ok", "").Inc()
		g.metrics.resumes.WithLabelValues("relayed").Inc()
		log.Debug("resume relayed to the edge holding the session")
		return
	case outcome == session.Resumed:
		// The session's own goroutine, from its first carrier, serves its streams.
		g.metrics.handshakes.WithLabelValues(l.name, "ok", "").Inc()
		g.metrics.resumes.WithLabelValues("ok").Inc()
		id := sess.ID()
		log.Info("session resumed", "session", shortID(id[:]))
		return
	}
	g.metrics.handshakes.WithLabelValues(l.name, "ok", "").Inc()

	if !g.addSession(sess) {
		sess.Close()
		return
	}
	g.metrics.sessions.WithLabelValues(l.name).Inc()
	// The session's ID goes with each of its log lines rather than into a logger of
	// its own, which would cost every session a handler's copy, logged or not.
	sl := sessionLog{log, sess.ID()}
	sl.Info("session established")
	// The session outlives this goroutine, whose stack the handshake grew: Serve's
	// drain waits for it by the count taken here, given back when it has ended.
	g.wg.Add(1)
	g.serveSession(sl, l.name, sess, func() {
		defer g.wg.Done()
		g.removeSession(sess)
		g.metrics.sessions.WithLabelValues(l.name).Dec()
		if errors.Is(sess.Err(), session.ErrOverBudget) {
			sl.Warn("session closed: it held the most buffered bytes when the memory budget ran out")
			return
		}
		// Why it ended tells a grace that ran out (the client did not come back) from
		// a close; the cause carries no address or key.
		sl.Info("session ended", "why", sess.Err())
	})
}

// sessionLog logs for one session: its ID, shortened, goes with each line.
type sessionLog struct {
	log *slog.Logger
	id  session.ID
}

func (l sessionLog) Debug(msg string, args ...any) { l.at(slog.LevelDebug, msg, args) }
func (l sessionLog) Info(msg string, args ...any)  { l.at(slog.LevelInfo, msg, args) }
func (l sessionLog) Warn(msg string, args ...any)  { l.at(slog.LevelWarn, msg, args) }

func (l sessionLog) at(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, msg, append([]any{"session", shortID(l.id[:])}, args...)...)
}

// serverConfig is the session layer's side of this gateway under policy, for a hello
// sent to endpoint.
func (g *Gateway) serverConfig(policy *Policy, endpoint session.Endpoint) *session.ServerConfig {
	return &session.ServerConfig{
		Identity:     g.cfg.Identity,
		Rotation:     g.cfg.Rotation,
		Secrets:      g.secrets(policy),
		Marks:        &g.marks,
		Endpoint:     endpoint,
		Replay:       g.replay,
		Store:        g.store,
		Sessions:     g.live,
		Relay:        g.relayer(),
		ResumeGrace:  policy.ResumeGrace,
		ResumeBuffer: policy.ResumeBuffer,
		MaxStreams:   policy.MaxStreams,
		Budget:       g.budget,

		StreamOpenBurst: policy.StreamOpenBurst,
		StreamOpenRate:  policy.StreamOpenRate,
	}
}

// failure names a failed session handshake for the metrics: refused when the gateway
// pushed the peer out for a newcomer, and a timeout as first_bytes when the peer never
// sent anything. consumed is what the handshake read, for the decoy.
func failure(err error, evicted, spoke bool) (result, reason string, consumed []byte) {
	reason = "error"
	var he *session.HelloError
	if errors.As(err, &he) {
		reason, consumed = he.Reason, he.Consumed
	}
	switch {
	case evicted:
		return "refused", admission.ReasonEvicted, consumed
	case reason == "timeout" && !spoke:
		return "failed", "first_bytes", consumed
	}
	return "failed", reason, consumed
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
