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
// budget the memory series, held the held-peers one.
func newMetrics(live *session.Registry, budget *session.Budget, held *admission.Held) *metrics {
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
	m.registry.MustRegister(budgetMetrics(budget)...)
	return m
}

// budgetMetrics are the memory budget's series, read from it at each scrape.
func budgetMetrics(b *session.Budget) []prometheus.Collector {
	gauge := func(name, help string, v func(session.BudgetStats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(v(b.Stats())) })
	}
	counter := func(name, help string, labels prometheus.Labels, v func(session.BudgetStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v(b.Stats())) })
	}
	const refusedHelp = "Streams reset as the client opened them, by reason: rate (the session opens too fast), memory (the memory budget slows the session)."
	return []prometheus.Collector{
		gauge("umbrella_gateway_memory_budget_bytes", "The memory budget: the most all sessions may buffer together.",
			func(s session.BudgetStats) int64 { return s.Limit }),
		gauge("umbrella_gateway_memory_buffered_bytes", "Bytes sessions buffer now: stream receive and resend buffers, detached sessions' included.",
			func(s session.BudgetStats) int64 { return s.Used }),
		gauge("umbrella_gateway_memory_buffered_peak_bytes", "The most bytes sessions have buffered at once since the gateway started.",
			func(s session.BudgetStats) int64 { return s.Peak }),
		counter("umbrella_gateway_memory_sessions_slowed_total", "Times a session was slowed (small windows, no new streams) for holding more than its share of a tight memory budget.", nil,
			func(s session.BudgetStats) uint64 { return s.Slowed }),
		counter("umbrella_gateway_memory_sessions_closed_total", "Sessions closed for holding the most buffered bytes when the memory budget ran out.", nil,
			func(s session.BudgetStats) uint64 { return s.Closed }),
		counter("umbrella_gateway_stream_opens_refused_total", refusedHelp, prometheus.Labels{"reason": "rate"},
			func(s session.BudgetStats) uint64 { return s.RefusedRate }),
		counter("umbrella_gateway_stream_opens_refused_total", refusedHelp, prometheus.Labels{"reason": "memory"},
			func(s session.BudgetStats) uint64 { return s.RefusedMemory }),
	}
}

// zero makes the series of a gateway with these listener transports and services exist
// from its start, at 0: a rate over a series that appears only with its first event
// shows a dashboard no data where it should show 0 (Prometheus's instrumentation
// practices: initialise the label values you know of). Failure reasons are not known
// ahead, so failed handshakes appear as they come.
func (m *metrics) zero(transports []string, services []string) {
	for _, t := range transports {
		m.sessions.WithLabelValues(t)
		m.handshakes.WithLabelValues(t, "ok", "")
		m.bytes.WithLabelValues(t, "up")
		m.bytes.WithLabelValues(t, "down")
		m.drops.WithLabelValues(t, admission.ReasonEvicted)
		m.drops.WithLabelValues(t, admission.ReasonHeldFull)
	}
	for _, s := range services {
		m.streams.WithLabelValues(s, "ok")
	}
	m.resumes.WithLabelValues("ok")
	m.resumes.WithLabelValues("rejected")
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
