package fleet

import "github.com/prometheus/client_golang/prometheus"

// metrics are the fleet's Prometheus series; the gateway registers them beside its own.
type metrics struct {
	redisUp      prometheus.Gauge
	outages      prometheus.Counter
	downSeconds  prometheus.Counter
	dataLosses   prometheus.Counter
	replayChecks *prometheus.CounterVec // result
	replayWait   prometheus.Histogram
	revocations  prometheus.Gauge
	relays       *prometheus.CounterVec // result
	relaying     prometheus.Gauge
	relayedBytes *prometheus.CounterVec // direction
	handoffs     *prometheus.CounterVec // result
}

func newMetrics() *metrics {
	return &metrics{
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "umbrella_fleet_redis_up",
			Help: "1 while the fleet's Redis answers, 0 while this edge goes on with local state and refuses hellos that need the shared replay check.",
		}),
		outages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "umbrella_fleet_redis_outages_total",
			Help: "Times Redis became unreachable.",
		}),
		downSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "umbrella_fleet_redis_down_seconds_total",
			Help: "Seconds Redis was unreachable, counted when it came back: the gaps during which new sessions and resumes were refused.",
		}),
		dataLosses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "umbrella_fleet_redis_data_losses_total",
			Help: "Times this edge found Redis restarted without its data (a new epoch) and wrote back what it knew.",
		}),
		replayChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "umbrella_fleet_replay_checks_total",
			Help: "Hellos checked against the fleet's replay cache, by result: new, seen (a replay), unchecked (Redis did not answer in time; the hello got the answer garbage gets).",
		}, []string{"result"}),
		replayWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "umbrella_fleet_replay_wait_seconds",
			Help:    "How long a hello waited for the fleet's replay check, including the wait for a Redis that is down.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		revocations: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "umbrella_fleet_revocations",
			Help: "Secrets and link keys revoked in the fleet, as this edge knows them.",
		}),
		relays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "umbrella_fleet_relays_total",
			Help: "Resume hellos for sessions other edges hold, by result: ok (relayed), gone (no edge holds the session; the client was told), refused (the holder did not answer), error.",
		}, []string{"result"}),
		relaying: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "umbrella_fleet_relayed_carriers",
			Help: "Carriers this edge relays now to the edges holding their sessions.",
		}),
		relayedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "umbrella_fleet_relayed_bytes_total",
			Help: "Bytes relayed between clients and the edges holding their sessions, by direction (up: from the client).",
		}, []string{"direction"}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "umbrella_fleet_handoffs_total",
			Help: "Resume hellos other edges relayed to this one, by result: resumed, rejected (the session is gone), refused, error.",
		}, []string{"result"}),
	}
}

// Collectors are the fleet's series, for the gateway's registry.
func (f *Fleet) Collectors() []prometheus.Collector {
	m := f.metrics
	return []prometheus.Collector{m.redisUp, m.outages, m.downSeconds, m.dataLosses, m.replayChecks, m.replayWait,
		m.revocations, m.relays, m.relaying, m.relayedBytes, m.handoffs}
}

// CountHandoff counts the outcome of a handoff this edge answered.
func (f *Fleet) CountHandoff(result string) { f.metrics.handoffs.WithLabelValues(result).Inc() }
