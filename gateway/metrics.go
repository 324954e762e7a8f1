package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports/admission"
)

// metrics are one gateway's Prometheus series, in a registry of its own (no global
// state, so tests and the demo can run several gateways in one process).
type metrics struct {
	registry   *prometheus.Registry
	sessions   *prometheus.GaugeVec   // transport
	handshakes *prometheus.CounterVec // transport, result, reason
	streams    *prometheus.CounterVec // service, result
	bytes      *prometheus.CounterVec // transport, direction
	resumes    *prometheus.CounterVec // result
	drops      *prometheus.CounterVec // transport, reason
}

// newMetrics registers the gateway's series; live gives the detached-sessions gauge,
// held the held-peers one.
func newMetrics(live *session.Registry, held *admission.Held) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "umbrella_gateway_sessions",
			Help: "Sessions currently established, by transport.",
		}, []string{"transport"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "umbrella_gateway_handshakes_total",
			Help: "Session handshakes by transport, result (ok, failed, refused) and failure reason.",
		}, []string{"transport", "result", "reason"}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "umbrella_gateway_streams_total",
			Help: "Streams requested by service and result (ok, unknown, unavailable, limit).",
		}, []string{"service", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "umbrella_gateway_bytes_total",
			Help: "Stream payload bytes by transport and direction (up: client to backend, down: backend to client).",
		}, []string{"transport", "direction"}),
		resumes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "umbrella_gateway_resumes_total",
			Help: "Resume hellos by result: ok (re-attached), rejected (session gone, or a bad or spent ticket).",
		}, []string{"result"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "umbrella_gateway_admission_drops_total",
			Help: "Peers dropped under load, by transport and reason: evicted (a newcomer took its handshake place), held_full (a rejected peer closed early because too many were held).",
		}, []string{"transport", "reason"}),
	}
	detached := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "umbrella_gateway_detached_sessions",
		Help: "Sessions whose carrier died, kept with their backend connections until resumed or their grace period ends.",
	}, func() float64 { return float64(live.Detached()) })
	heldPeers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "umbrella_gateway_held_peers",
		Help: "Rejected peers held in silence or in the decoy site now, across transports.",
	}, func() float64 { return float64(held.Len()) })
	m.registry.MustRegister(m.sessions, m.handshakes, m.streams, m.bytes, m.resumes, m.drops, detached, heldPeers,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
