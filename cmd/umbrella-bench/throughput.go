package main

import (
	"context"
	"fmt"
	"time"
)

// Throughput transfers grow from warmupSize until one lasts about -duration on this
// machine, whatever the path's speed, up to maxTransfer.
const (
	warmupSize  = 16 << 20
	maxTransfer = 2 << 30
)

// tlsShareTarget: TLS-carried throughput should reach a quarter of raw TCP's.
const tlsShareTarget = 25.0

// Issue 17's one-stream upload targets, as shares of the plain tunnel without our
// session: utls of Go's crypto/tls, quic of quic-go.
const (
	utlsOfCryptoTLS = 50.0
	quicOfQuicGo    = 60.0
)

// oneStreamAnchors are the plain tunnels our one-stream rows compare with: which
// transport competes with which, and the share targeted.
var oneStreamAnchors = map[string]struct {
	kind, name string
	share      float64
}{
	"utls": {tunnelTLS, anchorTLS, utlsOfCryptoTLS},
	"quic": {tunnelQUIC, anchorQUIC, quicOfQuicGo},
}

// measureThroughput moves bytes over one stream per path and direction: upload to the
// bulk backend's sink, and download from its source.
func measureThroughput(ctx context.Context, b *bench) ([]row, error) {
	p, o := b.progress, b.opts
	paths, err := b.paths()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, pt := range paths {
			pt.done()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the anchors' tunnels
	for _, kind := range []struct{ kind, name string }{{tunnelTLS, anchorTLS}, {tunnelQUIC, anchorQUIC}} {
		open, err := inProcessTunnel(ctx, kind.kind, b.backends.services())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind.name, err)
		}
		paths = append(paths, path{name: kind.name, open: open, done: func() {}})
	}
	var rows []row
	for _, dir := range []struct {
		b    byte
		name string
	}{{bulkUp, "Throughput, upload (client → backend)"}, {bulkDown, "Throughput, download (backend → client)"}} {
		var base float64
		anchors := make(map[string]float64)
		for _, pt := range paths {
			bytes, took, err := transfer(ctx, pt, dir.b, o.duration)
			if err != nil {
				return rows, fmt.Errorf("%s over %s: %w", dir.name, pt.name, err)
			}
			rate := mbps(bytes, took)
			p.say("  %s, %s: %d MiB in %s = %.0f MB/s", dir.name, pt.name, bytes>>20, took.Round(time.Millisecond), rate)
			r := row{measure: dir.name, path: pt.name, result: fmt.Sprintf("%.0f MB/s", rate),
				how: fmt.Sprintf("1 stream, %d MiB", bytes>>20)}
			anchors[pt.name] = rate
			if pt.name == rawTCP {
				base = rate
			} else {
				r.baseline = percentOf(rate, base)
				if pt.name == "utls" {
					r.target = fmt.Sprintf("≥ %.0f %% of raw TCP", tlsShareTarget)
					r.met = targetMet(100*rate/base >= tlsShareTarget)
				}
			}
			rows = append(rows, r)
		}
		compareOneStream(rows[len(rows)-len(paths):], anchors, dir.b == bulkUp)
	}
	return rows, nil
}

// compareOneStream adds to rows of ours their share of the plain tunnel they compete
// with, which the anchors' rows (measured after them) give; on upload that share is
// the target.
func compareOneStream(rows []row, rates map[string]float64, upload bool) {
	for i := range rows {
		a, ok := oneStreamAnchors[rows[i].path]
		if !ok || rates[a.name] <= 0 {
			continue
		}
		share := 100 * rates[rows[i].path] / rates[a.name]
		rows[i].baseline += fmt.Sprintf("; %.0f %% of %s", share, anchorShort(a.name))
		if upload {
			rows[i].target = fmt.Sprintf("≥ %.0f %% of %s", a.share, anchorShort(a.name))
			rows[i].met = targetMet(share >= a.share)
		}
	}
}

// transfer moves as many bytes as it can in about d, on a fresh stream. It starts small
// (which also warms the path up) and grows the size from the rate seen until one
// transfer lasts at least half of d. It returns the bytes and time of that transfer.
func transfer(ctx context.Context, pt path, dir byte, d time.Duration) (int64, time.Duration, error) {
	return transferFrom(ctx, pt, dir, d, warmupSize)
}

// transferFrom is transfer starting from size bytes, for a path much slower than
// loopback's.
func transferFrom(ctx context.Context, pt path, dir byte, d time.Duration, size int64) (int64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*d+time.Minute)
	defer cancel()
	conn, err := pt.open(ctx, serviceBulk)
	if err != nil {
		return 0, 0, fmt.Errorf("open bulk stream: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	for {
		t0 := time.Now()
		n, err := bulkRequest(conn, dir, size)
		took := time.Since(t0)
		if err != nil {
			return n, took, fmt.Errorf("transfer of %d MiB: %w", size>>20, err)
		}
		if took >= d/2 || size == maxTransfer {
			return n, took, nil
		}
		next := int64(float64(size) * d.Seconds() / max(took.Seconds(), 1e-3))
		// Whole MiB, or 64 KiB below a warm-up's size (a DNS tunnel's transfers).
		granule := int64(1 << 20)
		if next < warmupSize {
			granule = 64 << 10
		}
		size = min(max(next, 2*size), maxTransfer) &^ (granule - 1)
	}
}
