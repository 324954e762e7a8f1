package gateway

import (
	"context"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/internal/relay"
	"github.com/umbrella-edge/edge/session"
)

// serveSession connects each stream of sess to the backend service it names until the
// session ends, then forgets the session. It returns at once: an idle session holds
// no goroutine of the gateway's, only callbacks (a stream's handler runs while its
// stream is open, and the session's end runs done). Streams only ever reach
// configured services.
func (g *Gateway) serveSession(log sessionLog, transport string, sess *session.Session, done func()) {
	up := g.metrics.bytes.WithLabelValues(transport, "up")
	down := g.metrics.bytes.WithLabelValues(transport, "down")
	var probe func() *probeSession // the session's side of the probe service, once asked for
	if g.probe != nil {
		probe = sync.OnceValue(g.probe.newSession)
	}
	streams := new(handlers)
	alive := sess.Context()
	sess.HandleStreams(func(st *session.Stream) {
		if !streams.start() {
			st.Refuse(session.RefuseUnavailable) // the session is ending
			return
		}
		if st.Service() == limits.ProbeService && probe != nil {
			defer streams.done()
			g.serveProbe(alive, st, probe(), up, down)
			return
		}
		conn, backend, ok := g.openStream(alive, log, st)
		if !ok {
			streams.done()
			return
		}
		// The relay waits on a new goroutine's small stack, not on this one's, which
		// the backend's dial grew: an idle stream holds only that one.
		go func() {
			defer streams.done()
			relayStream(alive, conn, backend, up, down)
		}()
	})
	context.AfterFunc(sess.Context(), func() {
		streams.end()
		done()
	})
}

// openStream connects st to the backend of the service it names and accepts it, or
// refuses it and reports false.
func (g *Gateway) openStream(alive context.Context, log sessionLog, st *session.Stream) (conn, backend net.Conn, ok bool) {
	service := st.Service()
	addr, ok := g.cfg.Services[service]
	if !ok {
		// The label is fixed, not the requested name: a client must not be able to
		// grow the metric's cardinality.
		g.metrics.streams.WithLabelValues("unknown", "unknown").Inc()
		st.Refuse(session.RefuseUnknownService)
		return nil, nil, false
	}
	d := net.Dialer{Timeout: g.cfg.BackendDialTimeout}
	backend, err := d.DialContext(alive, "tcp", addr)
	if err != nil {
		g.metrics.streams.WithLabelValues(service, "unavailable").Inc()
		log.Warn("backend unreachable", "service", service, "err", err)
		st.Refuse(session.RefuseUnavailable)
		return nil, nil, false
	}
	conn, err = st.Accept()
	if err != nil {
		backend.Close()
		return nil, nil, false
	}
	g.metrics.streams.WithLabelValues(service, "ok").Inc()
	log.Debug("stream opened", "service", service)
	return conn, backend, true
}

// relayStream joins an accepted stream and its backend until both directions end.
func relayStream(alive context.Context, conn, backend net.Conn, up, down prometheus.Counter) {
	// The backend ends with the session: a relay whose stream side half-closed would
	// otherwise wait on the backend forever.
	stop := context.AfterFunc(alive, func() { backend.Close() })
	defer stop()
	relay.Splice(conn, backend, up, down)
}

// handlers counts a session's running stream handlers, so that the session's end
// waits for them; none starts once it has begun waiting.
type handlers struct {
	mu     sync.Mutex
	ending bool
	wg     sync.WaitGroup
}

func (h *handlers) start() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ending {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *handlers) done() { h.wg.Done() }

// end waits for the running handlers to return.
func (h *handlers) end() {
	h.mu.Lock()
	h.ending = true
	h.mu.Unlock()
	h.wg.Wait()
}
