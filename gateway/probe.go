package gateway

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/session"
)

// The probe service's own bounds; its rates' defaults are in package limits.
const (
	// probeBurstSeconds is how many seconds of its rate a bucket holds.
	probeBurstSeconds = 2
	// probeStreamsPerSession and maxProbeStreams bound the probe streams open at
	// once: a probe uses one per session.
	probeStreamsPerSession = 2
	maxProbeStreams        = 64
	// probeIdle closes a probe stream that sends nothing for so long.
	probeIdle = 30 * time.Second
	// probeChunk is the most echoed per read: a bucket holds at least this much.
	probeChunk = 16 << 10
)

// ProbeConfig configures the built-in probe service. The zero value serves it with
// the default rates.
type ProbeConfig struct {
	// Off refuses streams to the service, as to a service the gateway does not have.
	Off bool
	// SessionRate bounds the bytes one session's probe streams echo a second, after a
	// burst of two seconds' worth; 0 means DefaultProbeSessionRate.
	SessionRate int
	// Rate bounds the bytes all sessions' probe streams echo a second together,
	// likewise; 0 means DefaultProbeRate.
	Rate int
}

// probeService is the gateway-wide side of the probe service: its rate and how many
// probe streams are open.
type probeService struct {
	cfg   ProbeConfig
	limit *rate.Limiter
	open  atomic.Int32
}

func newProbeService(cfg ProbeConfig) *probeService {
	if cfg.Off {
		return nil
	}
	if cfg.SessionRate <= 0 {
		cfg.SessionRate = limits.DefaultProbeSessionRate
	}
	if cfg.Rate <= 0 {
		cfg.Rate = limits.DefaultProbeRate
	}
	return &probeService{cfg: cfg, limit: newProbeLimiter(cfg.Rate)}
}

func newProbeLimiter(bytesPerSecond int) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(bytesPerSecond), max(probeBurstSeconds*bytesPerSecond, probeChunk))
}

// probeSession is one session's side of the probe service, made at its first probe
// stream.
type probeSession struct {
	limit *rate.Limiter
	open  atomic.Int32
}

func (p *probeService) newSession() *probeSession {
	return &probeSession{limit: newProbeLimiter(p.cfg.SessionRate)}
}

// take counts a new probe stream against the session's and the gateway's bounds, and
// reports whether it may open; release gives the place back.
func (p *probeService) take(s *probeSession) bool {
	if s.open.Add(1) > probeStreamsPerSession {
		s.open.Add(-1)
		return false
	}
	if p.open.Add(1) > maxProbeStreams {
		p.open.Add(-1)
		s.open.Add(-1)
		return false
	}
	return true
}

func (p *probeService) release(s *probeSession) {
	s.open.Add(-1)
	p.open.Add(-1)
}

// serveProbe echoes st until the stream or the session ends, or it idles for
// probeIdle.
func (g *Gateway) serveProbe(alive context.Context, st *session.Stream, s *probeSession, up, down prometheus.Counter) {
	p := g.probe
	if !p.take(s) {
		g.metrics.streams.WithLabelValues(limits.ProbeService, "limit").Inc()
		st.Refuse(session.RefuseLimit)
		return
	}
	defer p.release(s)
	conn, err := st.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	g.metrics.streams.WithLabelValues(limits.ProbeService, "ok").Inc()
	stop := context.AfterFunc(alive, func() { conn.Close() })
	defer stop()
	p.echo(alive, conn, s, up, down)
}

// echo writes back what conn sends, once both buckets allow it.
func (p *probeService) echo(ctx context.Context, conn net.Conn, s *probeSession, up, down prometheus.Counter) {
	buf := make([]byte, probeChunk)
	for {
		conn.SetReadDeadline(time.Now().Add(probeIdle))
		n, err := conn.Read(buf)
		if n > 0 {
			up.Add(float64(n))
			if s.limit.WaitN(ctx, n) != nil || p.limit.WaitN(ctx, n) != nil {
				return
			}
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
			down.Add(float64(n))
		}
		if err != nil {
			return
		}
	}
}
