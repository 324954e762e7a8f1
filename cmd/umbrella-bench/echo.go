package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/internal/lab"
)

// The echo harness compares our transports with what a user would run instead: an app
// streams through a local port (our client's port forward, ss-tunnel, obfs4proxy's
// SOCKS port, a plain TLS or QUIC tunnel's) to an echo backend and back. Client and
// server sides are processes of their own, so the CPU they spend per byte can be read
// from /proc.

// echoRun is one path of the harness, running.
type echoRun struct {
	dial func(ctx context.Context) (net.Conn, error) // the app's connection
	pids []int                                       // client and server sides
	stop func()
}

// The anchors' names in the table.
const (
	anchorSS    = "shadowsocks-libev (ss-tunnel → ss-server, " + ssCipher + ")"
	anchorObfs4 = "obfs4proxy client → obfs4proxy server"
	anchorTLS   = "Go crypto/tls tunnel"
	anchorQUIC  = "quic-go tunnel"
)

// echoTarget is what one of our transports competes with, and the targets as
// ratios to it (0: none).
type echoTarget struct {
	anchor     string
	throughput float64 // at least this many times the anchor's throughput
	p99        float64 // at most this many times the anchor's p99
}

var echoTargets = map[string]echoTarget{
	"tcp":       {anchorSS, 1.5, 1.0},
	"utls":      {anchorSS, 1.0, 0},
	"webtunnel": {anchorSS, 1.0, 0},
	"websocket": {anchorSS, 1.0, 0},
	"meek":      {anchorSS, 0, 0},
	"obfs4":     {anchorObfs4, 1.0, 0},
	"pt":        {anchorObfs4, 0, 0},
	"quic":      {anchorQUIC, 0.6, 0},
	"quicobfs":  {anchorQUIC, 0, 0},
}

// echoResult is what one path measured.
type echoResult struct {
	name      string
	rate      float64 // MB/s echoed
	bytes     int64
	took      time.Duration
	cpuPerGB  float64 // CPU seconds of client and server sides per GB echoed
	lat       latencies
	missing   error // the path could not run on this machine
	transport string
}

// measureEcho runs the anchors and then each transport through a child gateway with a
// listener for every transport and a child `umbrella client` with one port forward.
func measureEcho(ctx context.Context, b *bench) ([]row, error) {
	var listeners []config.Listener
	for _, br := range b.bridges {
		args, err := lab.ListenerArgs(br.Transport)
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, config.Listener{Transport: br.Transport, Listen: "127.0.0.1:0", Args: args})
	}
	echo := b.backends.echoBulkAddr
	return b.withChildListeners(ctx, config.Limits{}, listeners, func(g *childGateway) ([]row, error) {
		dir, err := os.MkdirTemp(b.childDir, "echo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		type startFn func(context.Context) (*echoRun, error)
		paths := []struct {
			name, transport string
			start           startFn
		}{
			{anchorSS, "", func(ctx context.Context) (*echoRun, error) { return startShadowsocks(ctx, echo) }},
			{anchorObfs4, "", func(ctx context.Context) (*echoRun, error) { return startObfs4proxyPair(ctx, dir, echo) }},
			{anchorTLS, "", func(ctx context.Context) (*echoRun, error) { return startTunnelPair(ctx, tunnelTLS, dir, echo) }},
			{anchorQUIC, "", func(ctx context.Context) (*echoRun, error) { return startTunnelPair(ctx, tunnelQUIC, dir, echo) }},
		}
		for _, br := range g.bridges {
			paths = append(paths, struct {
				name, transport string
				start           startFn
			}{"our " + br.Transport, br.Transport, func(ctx context.Context) (*echoRun, error) {
				return startUmbrellaClient(ctx, b.childBin, dir, br, serviceEchoBulk, g.cmd.Process.Pid)
			}})
		}
		var results []echoResult
		for _, pt := range paths {
			r, err := measureEchoPath(ctx, b, pt.name, pt.start)
			if err != nil {
				return echoRows(results), fmt.Errorf("%s: %w", pt.name, err)
			}
			r.transport = pt.transport
			results = append(results, r)
		}
		return echoRows(results), nil
	})
}

// measureEchoPath starts one path, times 1 KiB round trips and an echo transfer on it,
// and stops it.
func measureEchoPath(ctx context.Context, b *bench, name string, start func(context.Context) (*echoRun, error)) (echoResult, error) {
	p, o := b.progress, b.opts
	res := echoResult{name: name}
	run, err := start(ctx)
	if errors.Is(err, errMissing) {
		p.say("  %s: %v", name, err)
		res.missing = err
		return res, nil
	}
	if err != nil {
		return res, err
	}
	defer run.stop()
	pt := path{name: name, open: func(ctx context.Context, _ string) (net.Conn, error) { return run.dial(ctx) }}
	if res.lat, err = roundTrips(ctx, p, pt, o.messages); err != nil {
		return res, fmt.Errorf("round trips: %w", err)
	}
	var cpu time.Duration
	if res.bytes, res.took, cpu, err = echoTransfer(ctx, run, o.duration); err != nil {
		return res, fmt.Errorf("echo transfer: %w", err)
	}
	res.rate = mbps(res.bytes, res.took)
	res.cpuPerGB = cpu.Seconds() / (float64(res.bytes) / 1e9)
	p.say("  %s: %.0f MB/s echoed, %.2f CPU s/GB, round trip %s", name, res.rate, res.cpuPerGB, res.lat.p50p99())
	return res, nil
}

// echoTransfer echoes as many bytes as it can in about d through one connection,
// growing the size as transfer does. It returns the bytes, time and CPU time of the
// client and server sides for the last transfer.
func echoTransfer(ctx context.Context, run *echoRun, d time.Duration) (int64, time.Duration, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*d+time.Minute)
	defer cancel()
	conn, err := run.dial(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	size := int64(warmupSize)
	for {
		cpu0, err := treeCPU(run.pids...)
		if err != nil {
			return 0, 0, 0, err
		}
		t0 := time.Now()
		n, err := echoOnce(conn, size)
		took := time.Since(t0)
		if err != nil {
			return n, took, 0, fmt.Errorf("echo of %d MiB: %w", size>>20, err)
		}
		cpu1, err := treeCPU(run.pids...)
		if err != nil {
			return 0, 0, 0, err
		}
		if took >= d/2 || size == maxTransfer {
			return n, took, cpu1 - cpu0, nil
		}
		next := int64(float64(size) * d.Seconds() / max(took.Seconds(), 1e-3))
		size = min(max(next, 2*size), maxTransfer) &^ (1<<20 - 1)
	}
}

// echoOnce writes size bytes on c while reading the echo back.
func echoOnce(c net.Conn, size int64) (int64, error) {
	werr := make(chan error, 1)
	go func() { _, err := writeN(c, size); werr <- err }()
	n, err := io.CopyBuffer(io.Discard, io.LimitReader(c, size), make([]byte, bulkChunk))
	if err == nil && n < size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		c.Close() // unblocks the writer
		<-werr
		return n, err
	}
	return n, <-werr
}

// echoRows are the table's rows: throughput, round trips and CPU per GB, each of ours
// compared with the anchor it competes with.
func echoRows(results []echoResult) []row {
	byName := make(map[string]echoResult)
	for _, r := range results {
		byName[r.name] = r
	}
	const (
		mThroughput = "Echo through a local port: throughput"
		mRTT        = "Echo through a local port: 1 KiB round trip"
		mCPU        = "Echo through a local port: CPU per GB (client + server sides)"
	)
	var tput, rtt, cpu []row
	for _, r := range results {
		if r.missing != nil {
			tput = append(tput, row{measure: mThroughput, path: r.name, result: "not measured", how: r.missing.Error()})
			continue
		}
		how := fmt.Sprintf("1 connection, %d MiB written and read back at once", r.bytes>>20)
		t := row{measure: mThroughput, path: r.name, result: fmt.Sprintf("%.0f MB/s", r.rate), how: how}
		l := row{measure: mRTT, path: r.name, result: r.lat.p50p99(),
			how: fmt.Sprintf("%d messages, one at a time", len(r.lat))}
		c := row{measure: mCPU, path: r.name, result: fmt.Sprintf("%.2f s/GB", r.cpuPerGB),
			how: "utime+stime from /proc of both sides' processes (and their children) during the transfer"}
		if tg, ok := echoTargets[r.transport]; ok {
			if a, ok := byName[tg.anchor]; ok && a.missing == nil {
				short := anchorShort(tg.anchor)
				ratio := r.rate / a.rate
				t.baseline = fmt.Sprintf("%.2f× %s", ratio, short)
				if tg.throughput > 0 {
					t.target = fmt.Sprintf("≥ %.1f× %s", tg.throughput, short)
					t.met = targetMet(ratio >= tg.throughput)
				}
				p99 := float64(r.lat.percentile(99)) / float64(a.lat.percentile(99))
				l.baseline = fmt.Sprintf("p99 %.2f× %s", p99, short)
				if tg.p99 > 0 {
					l.target = fmt.Sprintf("p99 ≤ %.1f× %s", tg.p99, short)
					l.met = targetMet(p99 <= tg.p99)
				}
				c.baseline = fmt.Sprintf("%.2f× %s", r.cpuPerGB/a.cpuPerGB, short)
			}
		}
		tput, rtt, cpu = append(tput, t), append(rtt, l), append(cpu, c)
	}
	return append(append(tput, rtt...), cpu...)
}

// anchorShort names an anchor in a ratio.
func anchorShort(anchor string) string {
	switch anchor {
	case anchorSS:
		return "shadowsocks-libev"
	case anchorObfs4:
		return "obfs4proxy"
	case anchorTLS:
		return "crypto/tls"
	case anchorQUIC:
		return "quic-go"
	}
	return anchor
}
