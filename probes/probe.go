// Package probes tests bridge lines from the network it runs on, step by step (name
// resolution, connect, transport and session handshakes, echoes, a transfer past a
// censor's freeze, a throughput sample), and names what failed in OONI's vocabulary
// and in words; umbrella probe prints its results as a table and OONI-shaped JSON.
// probes/censor is the other side: a censor to test against.
package probes

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/transports"
)

// Defaults and bounds of a run. A step's timeout covers a TLS handshake over a slow
// mobile link and a lost segment's retransmission many times over; 2 minutes is the
// most a tester waits for one step before the run says nothing more.
const (
	DefaultStepTimeout = 10 * time.Second
	MinStepTimeout     = time.Second
	MaxStepTimeout     = 2 * time.Minute
	// DefaultParallel: one line of each family of transports at once, as the client
	// races them (stream, TLS, CDN, UDP).
	DefaultParallel = 4
	// TransferSize is the transfer each way: past the 14–20 KB after which Russia's
	// TSPU freezes connections to foreign hosts (net4people reports, 2025).
	TransferSize = 24 << 10
	// ThroughputBytes and ThroughputTime bound the throughput sample, from the first
	// byte echoed back: within a session's burst of the gateway's probe service, so
	// that an idle gateway's limit is not what it measures.
	ThroughputBytes = 1 << 20
	ThroughputTime  = 2 * time.Second
	// Echoes is how many small messages the echo step sends, one at a time.
	Echoes = 5
)

// Config is how a run probes. Zero values mean the documented defaults.
type Config struct {
	// Transports resolves the lines' transport names.
	Transports *transports.Registry
	// StepTimeout bounds each step of a line (each of the echo step's round trips);
	// it is clamped to [MinStepTimeout, MaxStepTimeout]. 0 means DefaultStepTimeout.
	StepTimeout time.Duration
	// Parallel is how many lines are probed at once; 1 probes them one after another,
	// which is slower but leaves a censor's per-flow state to one line at a time.
	// 0 means DefaultParallel.
	Parallel int
	// Resolver resolves bridges' host names in the resolve step; nil means the
	// system's, which the transports use too.
	Resolver *net.Resolver
	// OnEvent, if set, is told of each step as it starts and ends, one event of a
	// line at a time (lines probed in parallel call it concurrently). It must return
	// quickly.
	OnEvent func(Event)
}

func (c *Config) setDefaults() {
	if c.StepTimeout == 0 {
		c.StepTimeout = DefaultStepTimeout
	}
	c.StepTimeout = min(max(c.StepTimeout, MinStepTimeout), MaxStepTimeout)
	if c.Parallel <= 0 {
		c.Parallel = DefaultParallel
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
}

// An Event is a step of a line starting (Done false) or ending.
type Event struct {
	Line int  // the line's index in the run
	Step Step // a copy, as the step was then
	Done bool
}

// Result is what probing one bridge line found.
type Result struct {
	// Index is the line's place in the run's input, from 0.
	Index int
	// Line is the bridge line probed. It holds the secret: print it only through a
	// Redactor.
	Line bridge.Line
	// Family is the line's family of transports (client.FamilyOf).
	Family string
	// Start is when probing the line began, and Took how long it took.
	Start time.Time
	Took  time.Duration
	// Steps are the steps run, in order; a failed step is the last.
	Steps []*Step
	// Failure is the failed step's classified error; nil when every step passed.
	Failure *failure.Error
	// FailedStep is the failed step's name; "" when none failed.
	FailedStep string
	// Unmeasured says why the data steps did not run although the session came up
	// (the gateway has no probe service); "" when they ran or a step failed.
	Unmeasured string
}

// Works reports whether every step passed.
func (r *Result) Works() bool { return r.Failure == nil }

// step returns the step called name; nil when it did not run.
func (r *Result) step(name string) *Step {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SessionTime is how long the line took to a session, the time a user waits; zero
// when it got none.
func (r *Result) SessionTime() time.Duration {
	if s := r.step(StepSession); s != nil && s.Failure == nil {
		return s.Start + s.Took
	}
	return 0
}

// RTT is the round trip the line's connect measured; zero when it measured none (a pt
// line's connect is its program's).
func (r *Result) RTT() time.Duration {
	if s := r.step(StepConnect); s != nil {
		return s.RTT
	}
	return 0
}

// Run probes every line under cfg, at most cfg.Parallel at once, and returns their
// results in the order of lines. It returns when all are done or ctx ends; a line cut
// short by ctx fails at its step with ctx's error.
func Run(ctx context.Context, cfg Config, lines []bridge.Line) []*Result {
	cfg.setDefaults()
	results := make([]*Result, len(lines))
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	for i, line := range lines {
		sem <- struct{}{} // a line started after ctx ended fails at once
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = probeLine(ctx, &cfg, i, line)
		})
	}
	wg.Wait()
	return results
}

// Best returns the index of the line that works and reached a session soonest, or -1
// when none works: the line a client on this network should try first.
func Best(results []*Result) int {
	best := -1
	for i, r := range results {
		if r.Works() && r.Unmeasured == "" && (best < 0 || r.SessionTime() < results[best].SessionTime()) {
			best = i
		}
	}
	return best
}
