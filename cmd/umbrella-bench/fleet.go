package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/gateway/fleet"
	"github.com/umbrella-edge/edge/internal/redistest"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// The fleet's numbers (issue 16) are taken in this process: two gateways that share a
// real redis-server, timed as a client sees them. revocationTarget is the issue's.
const (
	revocationTarget = 2 * time.Second
	fleetGuard       = 30 * time.Second // only keeps a stuck step from hanging the run
	fleetResumes     = 100              // resumes of each kind
	fleetRevocations = 20
	fleetEntries     = 20000 // directory entries and replay keys for the memory rows
)

// fleetWorld is a Redis and two edges of one fleet, in front of the echo backend.
type fleetWorld struct {
	redis    *redistest.Server
	dir      string
	identity ed25519.PrivateKey
	secret   session.Secret
	edges    []*benchEdge
}

type benchEdge struct {
	gw     *gateway.Gateway
	fleet  *fleet.Fleet
	bridge bridge.Line
	cancel context.CancelFunc
	served chan error
}

func startFleetWorld(ctx context.Context, echo string) (_ *fleetWorld, err error) {
	w := &fleetWorld{}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.dir, err = os.MkdirTemp("", "umbrella-bench-fleet-"); err != nil {
		return nil, err
	}
	if w.redis, err = redistest.Run(ctx, w.dir, redistest.Options{}); err != nil {
		return nil, err
	}
	if _, w.identity, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	rand.Read(w.secret[:])
	for _, name := range []string{"edge-a", "edge-b"} {
		e, err := w.startEdge(ctx, name, echo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		w.edges = append(w.edges, e)
	}
	return w, nil
}

func (w *fleetWorld) startEdge(ctx context.Context, name, echo string) (*benchEdge, error) {
	_, linkKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	f, err := fleet.Open(ctx, fleet.Config{Edge: name, Identity: w.identity, LinkKey: linkKey,
		Link: "127.0.0.1:0", Redis: fleet.RedisConfig{Addr: w.redis.Addr}})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, fleetGuard)
	defer cancel()
	if err := f.AwaitUp(wctx); err != nil {
		f.Close()
		return nil, err
	}
	state, err := os.MkdirTemp(w.dir, name+"-")
	if err != nil {
		f.Close()
		return nil, err
	}
	gw, err := gateway.Listen(ctx, gateway.Config{Identity: w.identity, Secrets: []session.Secret{w.secret},
		Services: map[string]string{"echo": echo}, StateDir: state, Fleet: f,
		Listeners: []gateway.ListenerConfig{{Transport: tcp.New(), Listen: "127.0.0.1:0"}}})
	if err != nil {
		f.Close()
		return nil, err
	}
	sctx, stop := context.WithCancel(context.Background())
	e := &benchEdge{gw: gw, fleet: f, bridge: gw.Bridges()[0], cancel: stop, served: make(chan error, 1)}
	go func() { e.served <- gw.Serve(sctx) }()
	return e, nil
}

func (w *fleetWorld) close() {
	for _, e := range w.edges {
		e.cancel()
		<-e.served
		e.fleet.Close()
	}
	if w.redis != nil {
		w.redis.Kill()
	}
	if w.dir != "" {
		os.RemoveAll(w.dir)
	}
}

// clientConfig is a client's session config for edge e's bridge line.
func (e *benchEdge) clientConfig() *session.ClientConfig {
	return &session.ClientConfig{GatewayKey: e.bridge.Key, Secret: e.bridge.Secret, Endpoint: e.bridge.Endpoint()}
}

// measureFleet times what the fleet adds: a resume through another edge beside one
// through the same edge, how fast a revocation reaches the other edge, what a Redis
// outage costs, and the memory a session and a hello take in Redis.
func measureFleet(ctx context.Context, b *bench) ([]row, error) {
	w, err := startFleetWorld(ctx, b.backends.echoAddr)
	if err != nil {
		return nil, err
	}
	defer w.close()
	var rows []row
	for _, m := range []func(context.Context, *bench, *fleetWorld) ([]row, error){
		measureCrossEdgeResume, measureRevocation, measureRedisMemory, measureRedisOutage,
	} {
		r, err := m(ctx, b, w)
		rows = append(rows, r...)
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// measureCrossEdgeResume keeps one session on edge a and an echo stream on it; it
// drops the carrier again and again and resumes, timed from the dial to Resume's
// return, directly at a, then through b (relayed to a over the link).
func measureCrossEdgeResume(ctx context.Context, b *bench, w *fleetWorld) ([]row, error) {
	a, via := w.edges[0], w.edges[1]
	conn, err := net.Dial("tcp", a.bridge.Addr)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, fleetGuard)
	defer cancel()
	s, err := session.Client(hctx, conn, a.clientConfig())
	if err != nil {
		conn.Close()
		return nil, err
	}
	defer s.Close()
	stream, err := s.OpenStream(hctx, "echo")
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	resume := func(to *benchEdge) func(context.Context) error {
		return func(ctx context.Context) error {
			s.DropCarrier()
			<-s.CarrierDone()
			ctx, cancel := context.WithTimeout(ctx, fleetGuard)
			defer cancel()
			c, err := net.Dial("tcp", to.bridge.Addr)
			if err != nil {
				return err
			}
			if err := s.Resume(ctx, c, to.clientConfig()); err != nil {
				c.Close()
				return err
			}
			_, err = echoOnce(stream, 16)
			return err
		}
	}
	p := b.progress
	same, err := sample(ctx, p.counter("resumes at the same edge", fleetResumes), fleetResumes, resume(a))
	if err != nil {
		return nil, fmt.Errorf("same-edge resume: %w", err)
	}
	cross, err := sample(ctx, p.counter("resumes through another edge", fleetResumes), fleetResumes, resume(via))
	if err != nil {
		return nil, fmt.Errorf("cross-edge resume: %w", err)
	}
	extra := cross.percentile(50) - same.percentile(50)
	p.say("  same edge %s, through another %s (+%v at p50)", same.p50p99(), cross.p50p99(), extra)
	how := fmt.Sprintf("%d resumes each, dial to Resume's return and a 16-byte echo, one session, tcp", fleetResumes)
	return []row{
		{measure: "Resume, same edge", path: "fleet (tcp)", result: same.p50p99(), how: how},
		{measure: "Resume through another edge (relayed over the link)", path: "fleet (tcp)", result: cross.p50p99(),
			baseline: fmt.Sprintf("+%v at p50", extra.Round(10*time.Microsecond)), how: how + "; mutual TLS 1.3 to the holder per resume"},
	}, nil
}

// errNotApplied is a revocation that did not reach the other edge in fleetGuard.
var errNotApplied = errors.New("the other edge did not apply the revocation")
