package probes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/client/failure"
)

// The steps of a line, in order, by their names in reports.
const (
	StepResolve    = "resolve"
	StepConnect    = "connect"
	StepTransport  = "transport_handshake"
	StepSession    = "session_handshake"
	StepEcho       = "echo"
	StepTransfer   = "transfer"
	StepThroughput = "throughput"
)

// A Step is what one step of a line found.
type Step struct {
	Name string
	// Start is when the step began, from the line's start; Took how long it ran.
	Start, Took time.Duration
	// Failure is why the step failed; nil when it passed or was skipped.
	Failure *failure.Error
	// Skipped says why the step did not run; "" when it ran.
	Skipped string

	// resolve: the name, the resolver asked and the addresses it gave.
	Host     string
	Resolver string
	Addrs    []string
	// connect: "tcp", or "udp" for a QUIC handshake; the round trip it measured.
	Network string
	RTT     time.Duration
	// transport_handshake: the TLS handshake inside it, if the transport runs one
	// over TCP.
	TLS *TLSHandshake
	// echo: each message's round trip.
	RTTs []time.Duration
	// transfer and throughput: payload bytes sent and echoed back.
	Sent, Received int64
	// CarrierReceived is how many bytes the carrier had delivered when a data step
	// ended: where a freeze struck.
	CarrierReceived int64
}

// TLSHandshake is the TLS handshake a transport ran over its TCP connection.
type TLSHandshake struct {
	// ServerName is the SNI sent; JA4 the hello's fingerprint.
	ServerName, JA4 string
	Start, Took     time.Duration
	Done            bool
	Err             error // as the handshake ended; nil when it completed
}

// errStepTimeout is why a step was cut short by its timeout.
var errStepTimeout = fmt.Errorf("step timeout: %w", context.DeadlineExceeded)

// lineProbe probes one line. Trace hooks run on the dial's goroutines, so what they
// touch is guarded by mu.
type lineProbe struct {
	cfg *Config
	r   *Result

	mu sync.Mutex
}

func probeLine(ctx context.Context, cfg *Config, i int, b bridge.Line) *Result {
	lp := &lineProbe{cfg: cfg, r: &Result{Index: i, Line: b, Family: client.FamilyOf(b), Start: time.Now()}}
	defer func() { lp.r.Took = time.Since(lp.r.Start) }()
	if !lp.resolve(ctx) {
		return lp.r
	}
	conn, tls := lp.dial(ctx)
	if conn == nil {
		return lp.r
	}
	meter := failure.NewMeter(conn)
	defer meter.Close()
	sess := lp.session(ctx, meter, tls)
	if sess == nil {
		return lp.r
	}
	defer sess.Close()
	lp.data(ctx, sess, meter, tls)
	return lp.r
}

// begin starts a step named name.
func (lp *lineProbe) begin(name string) *Step {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	s := &Step{Name: name, Start: time.Since(lp.r.Start)}
	lp.r.Steps = append(lp.r.Steps, s)
	lp.emit(s, false)
	return s
}

// end ends s, failed with fe unless fe is nil, and reports whether it passed.
func (lp *lineProbe) end(s *Step, fe *failure.Error) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	s.Took = time.Since(lp.r.Start) - s.Start
	if fe != nil {
		s.Failure, lp.r.Failure, lp.r.FailedStep = fe, fe, s.Name
	}
	lp.emit(s, true)
	return fe == nil
}

// skip records a step that did not run, and why.
func (lp *lineProbe) skip(name, why string) {
	s := lp.begin(name)
	s.Skipped = why
	lp.end(s, nil)
}

func (lp *lineProbe) emit(s *Step, done bool) {
	if lp.cfg.OnEvent != nil {
		lp.cfg.OnEvent(Event{Line: lp.r.Index, Step: *s, Done: done})
	}
}

// stepContext is ctx bounded by the step timeout, which reset pushes back.
type stepContext struct {
	context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	limit  time.Duration
}

func newStepContext(ctx context.Context, limit time.Duration) *stepContext {
	sc := &stepContext{limit: limit}
	sc.Context, sc.cancel = context.WithCancelCause(ctx)
	sc.timer = time.AfterFunc(limit, func() { sc.cancel(errStepTimeout) })
	return sc
}

// reset gives the next step a whole timeout of its own.
func (sc *stepContext) reset() { sc.timer.Reset(sc.limit) }

// err makes err say that the step's timeout passed, when it did, so the classifier
// sees a timeout where the transport only saw a cancelled context.
func (sc *stepContext) err(err error) error {
	if errors.Is(context.Cause(sc.Context), errStepTimeout) && !errors.Is(err, errStepTimeout) {
		return fmt.Errorf("%w: %w", errStepTimeout, err)
	}
	return err
}

func (sc *stepContext) stop() {
	sc.timer.Stop()
	sc.cancel(context.Canceled)
}
