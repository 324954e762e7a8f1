package main

import (
	"context"
	"os"
	"time"

	"github.com/umbrella-edge/edge/config"
)

// bench is what every measurement works with: the options, the progress display, the
// in-process gateway with its backends, and the child gateway's binary.
type bench struct {
	opts     options
	progress *progress
	*inProcess

	childDir string // holds the built gateway binary and the children's state
	childBin string
}

func newBench(ctx context.Context, o options, p *progress) (*bench, error) {
	ip, err := startInProcess(ctx, "127.0.0.1", o.transports)
	if err != nil {
		return nil, err
	}
	return &bench{opts: o, progress: p, inProcess: ip}, nil
}

func (b *bench) Close() {
	b.inProcess.Close()
	if b.childDir != "" {
		os.RemoveAll(b.childDir)
	}
}

// withChild starts a fresh child gateway for one measurement, so that no measurement
// inherits another's state (replay cache, heap), and stops it however fn returns. The
// binary is built on first use.
func (b *bench) withChild(ctx context.Context, maxSessions int, fn func(*childGateway) ([]row, error)) ([]row, error) {
	return b.withChildLimits(ctx, config.Limits{HandshakeTimeout: 10 * time.Second, MaxSessions: maxSessions}, fn)
}

// withChildLimits is withChild with the child's limits: section (0 fields: defaults).
func (b *bench) withChildLimits(ctx context.Context, limits config.Limits, fn func(*childGateway) ([]row, error)) ([]row, error) {
	return b.withChildListeners(ctx, limits, nil, fn)
}

// withChildListeners is withChildLimits with the child's listeners (none: one tcp
// listener).
func (b *bench) withChildListeners(ctx context.Context, limits config.Limits, listeners []config.Listener, fn func(*childGateway) ([]row, error)) ([]row, error) {
	if err := b.buildChild(ctx); err != nil {
		return nil, err
	}
	g, err := startChild(ctx, b.childBin, b.childDir, b.backends.services(), limits, listeners)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	b.progress.say("  child gateway pid %d listening on %s", g.cmd.Process.Pid, g.bridge.Addr)
	return fn(g)
}

// buildChild builds the umbrella binary the children run, once.
func (b *bench) buildChild(ctx context.Context) error {
	if b.childBin == "" {
		dir, err := os.MkdirTemp("", "umbrella-bench-child-")
		if err != nil {
			return err
		}
		b.childDir = dir
		if b.opts.gatewayBin == "" {
			b.progress.say("  building ./cmd/umbrella")
		}
		if b.childBin, err = buildGateway(ctx, b.opts.gatewayBin, dir); err != nil {
			return err
		}
	}
	return nil
}
