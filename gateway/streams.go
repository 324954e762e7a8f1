package gateway

import (
	"context"
	"log/slog"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/umbrella-edge/edge/internal/relay"
	"github.com/umbrella-edge/edge/session"
)

// serveStreams connects each stream of sess to the backend service it names, until
// the session ends. Streams only ever reach configured services.
func (g *Gateway) serveStreams(log *slog.Logger, transport string, sess *session.Session) {
	// alive ends with the session, so that backend connections end with it too: a
	// relay whose app side half-closed would otherwise wait on the backend forever.
	alive, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-alive.Done():
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	up := g.metrics.bytes.WithLabelValues(transport, "up")
	down := g.metrics.bytes.WithLabelValues(transport, "down")
	var probe func() *probeSession // the session's side of the probe service, once asked for
	if g.probe != nil {
		probe = sync.OnceValue(g.probe.newSession)
	}
	for {
		st, err := sess.AcceptStream(context.Background())
		if err != nil {
			return
		}
		if st.Service() == ProbeService && probe != nil {
			wg.Go(func() { g.serveProbe(alive, st, probe(), up, down) })
			continue
		}
		wg.Go(func() { g.serveStream(alive, log, st, up, down) })
	}
}

func (g *Gateway) serveStream(alive context.Context, log *slog.Logger, st *session.Stream, up, down prometheus.Counter) {
	service := st.Service()
	addr, ok := g.cfg.Services[service]
	if !ok {
		// The label is fixed, not the requested name: a client must not be able to
		// grow the metric's cardinality.
		g.metrics.streams.WithLabelValues("unknown", "unknown").Inc()
		st.Refuse(session.RefuseUnknownService)
		return
	}
	d := net.Dialer{Timeout: g.cfg.BackendDialTimeout}
	backend, err := d.DialContext(alive, "tcp", addr)
	if err != nil {
		g.metrics.streams.WithLabelValues(service, "unavailable").Inc()
		log.Warn("backend unreachable", "service", service, "err", err)
		st.Refuse(session.RefuseUnavailable)
		return
	}
	conn, err := st.Accept()
	if err != nil {
		backend.Close()
		return
	}
	g.metrics.streams.WithLabelValues(service, "ok").Inc()
	log.Debug("stream opened", "service", service)
	stop := context.AfterFunc(alive, func() { backend.Close() })
	defer stop()
	relay.Splice(conn, backend, up, down)
}
