package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// p99RoundTripTarget: a 1 KiB message's round trip through the gateway, on loopback.
const p99RoundTripTarget = 2 * time.Millisecond

// perPathBudget bounds the time one path's round trips may take, so a polling transport
// (meek waits for its next poll) does not hold the run for minutes; the row says how
// many messages were timed.
const perPathBudget = 20 * time.Second

// sample times n calls of op, one at a time, reporting progress as it goes.
func sample(ctx context.Context, c *counter, n int, op func(ctx context.Context) error) (latencies, error) {
	return sampleFor(ctx, c, n, 0, op)
}

// sampleFor is sample that also stops, early, once budget has passed (0 means no
// budget).
func sampleFor(ctx context.Context, c *counter, n int, budget time.Duration, op func(ctx context.Context) error) (latencies, error) {
	ls := make(latencies, 0, n)
	start := time.Now()
	for i := range n {
		if err := ctx.Err(); err != nil {
			return ls, err
		}
		if budget > 0 && time.Since(start) > budget {
			return ls, nil
		}
		t0 := time.Now()
		if err := op(ctx); err != nil {
			return ls, fmt.Errorf("sample %d of %d: %w", i+1, n, err)
		}
		ls = append(ls, time.Since(t0))
		c.tick(i + 1)
	}
	return ls, nil
}

// measureHandshakeTime times carrier dial + session handshake, client side, one after
// another, against the in-process gateway. A plain TCP connect is the baseline.
func measureHandshakeTime(ctx context.Context, b *bench) ([]row, error) {
	p, o := b.progress, b.opts
	const measure = "Session handshake (dial + handshake)"
	how := fmt.Sprintf("%d sequential, client side", o.handshakes)
	var d net.Dialer
	echo := b.backends.echoAddr
	base, err := sample(ctx, p.counter("TCP connect", o.handshakes), o.handshakes, func(ctx context.Context) error {
		c, err := d.DialContext(ctx, "tcp", echo)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("TCP connect: %w", err)
	}
	rows := []row{{measure: measure, path: rawTCP + " (connect only)", result: base.p50p99(), how: how}}
	for _, br := range b.bridges {
		h, err := newHandshaker(b.registry, br)
		if err != nil {
			return rows, err
		}
		ls, err := sample(ctx, p.counter(br.Transport+" handshakes", o.handshakes), o.handshakes, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			sess, err := h.open(ctx)
			if err == nil {
				sess.Close()
			}
			return err
		})
		if err != nil {
			return rows, err
		}
		p.say("  %s: %s", br.Transport, ls.p50p99())
		rows = append(rows, row{measure: measure, path: br.Transport, result: ls.p50p99(), how: how})
	}
	return rows, nil
}

// measureRoundTrip sends 1 KiB messages one at a time to the echo backend and waits for
// each to come back, on every path.
func measureRoundTrip(ctx context.Context, b *bench) ([]row, error) {
	p, o := b.progress, b.opts
	const measure = "1 KiB message round trip"
	paths, err := b.paths()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, pt := range paths {
			pt.done()
		}
	}()
	var rows []row
	var base time.Duration
	for _, pt := range paths {
		ls, err := roundTrips(ctx, p, pt, o.messages)
		if err != nil {
			return rows, fmt.Errorf("round trips over %s: %w", pt.name, err)
		}
		p.say("  %s: %s", pt.name, ls.p50p99())
		p99 := ls.percentile(99)
		how := fmt.Sprintf("%d messages, one at a time, to echo", len(ls))
		if len(ls) < o.messages {
			how += fmt.Sprintf(" (stopped at the %s budget)", perPathBudget)
		}
		r := row{measure: measure, path: pt.name, result: ls.p50p99(), how: how}
		if pt.name == rawTCP {
			base = p99
		} else {
			r.baseline = fmt.Sprintf("p99 +%s", ms(p99-base))
			r.target = "p99 < " + ms(p99RoundTripTarget)
			r.met = targetMet(p99 < p99RoundTripTarget)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// roundTrips opens one stream to the echo service on pt and times n echoes of 1 KiB,
// after a short warm-up that is not counted.
func roundTrips(ctx context.Context, p *progress, pt path, n int) (latencies, error) {
	const warmup = 100
	conn, err := pt.open(ctx, serviceEcho)
	if err != nil {
		return nil, fmt.Errorf("open echo stream: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	msg, got := make([]byte, 1024), make([]byte, 1024)
	for i := range msg {
		msg[i] = byte(i)
	}
	echo := func(context.Context) error {
		// A generous deadline only keeps a broken path from hanging the run.
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(conn, got); err != nil {
			return err
		}
		if !bytes.Equal(msg, got) {
			return fmt.Errorf("echo returned different bytes")
		}
		return nil
	}
	if _, err := sampleFor(ctx, p.counter(pt.name+" warm-up", warmup), warmup, perPathBudget/10, echo); err != nil {
		return nil, err
	}
	return sampleFor(ctx, p.counter(pt.name+" messages", n), n, perPathBudget, echo)
}
