package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/probes/censor"
)

// Failover is measured with data flowing all the time, as in a chat: a small record
// every flowInterval, echoed back.
const (
	flowInterval = 10 * time.Millisecond
	recordSize   = 16 // sequence number and send time
	// failoverGuard only keeps a failover that never comes from hanging the run; a
	// silent cut is noticed by the client's watchdog within a second.
	failoverGuard = time.Minute
	// failoverTarget is issue 11's: a silent kill's p99 on loopback with traffic
	// flowing.
	failoverTarget = time.Second
	// settleTime lets the new carrier carry data before the next kill, so that every
	// kill hits a carrier in use rather than one still being adopted.
	settleTime = 500 * time.Millisecond
)

// measureFailover runs the lab's censored world (gateway, censor with a route per
// transport, the gateway its own front), keeps an echo stream busy through a client
// given every bridge line, and has the censor cut the active carrier again and again.
// Failover time is from the kill to the first echo of a record sent after it: bytes
// that only a new carrier can have delivered.
func measureFailover(ctx context.Context, b *bench) ([]row, error) {
	p, o := b.progress, b.opts
	w, err := startEchoWorld(ctx, lab.Options{NoCDN: true, AllowMissing: true, Transports: o.transports}, "bench")
	if err != nil {
		return nil, err
	}
	defer w.close()
	l, c, f := w.lab, w.client, w.flow
	p.say("  client with %d bridge lines, first carrier %s", len(l.Bridges()), c.Active())

	var rows []row
	for _, mode := range []censor.KillMode{censor.KillSilent, censor.KillReset} {
		k, err := killRepeatedly(ctx, p, l, c, f, mode, o.kills)
		if err != nil {
			return rows, fmt.Errorf("%s kills: %w", mode, err)
		}
		p.say("  %s: kill → data again %s; kill → loss noticed %s", mode, k.gaps.p50p99(), k.detect.p50p99())
		rows = append(rows, k.row(mode))
	}
	return rows, nil
}

// echoWorld is a lab, a client of every bridge line in it, and a flow of records
// echoed through the client.
type echoWorld struct {
	lab    *lab.Lab
	client *lab.Client
	flow   *flow
}

// startEchoWorld starts a lab with opts, a client on the given network identity, and
// the flow.
func startEchoWorld(ctx context.Context, opts lab.Options, network string) (_ *echoWorld, err error) {
	w := &echoWorld{}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.lab, err = lab.Start(ctx, opts); err != nil {
		return nil, err
	}
	if w.client, err = w.lab.Client(client.Config{Network: func() string { return network }}); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, failoverGuard)
	conn, err := w.client.Dial(dctx, lab.Service)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("open the echo stream: %w", err)
	}
	w.flow = startFlow(conn)
	return w, nil
}

// close stops the flow, the client and the lab, whatever of them started.
func (w *echoWorld) close() {
	if w.flow != nil {
		w.flow.close()
	}
	if w.client != nil {
		w.client.Close()
	}
	if w.lab != nil {
		w.lab.Close()
	}
}

// kills are the samples of one kill mode.
type kills struct {
	n      int
	gaps   latencies      // kill → first echo of a record sent after the kill
	detect latencies      // kill → the client's EventLost
	moves  map[string]int // "utls → tcp" → how often
	stayed int            // kills after which the carrier carried on without a move
}

func killRepeatedly(ctx context.Context, p *progress, l *lab.Lab, c *lab.Client, f *flow, mode censor.KillMode, n int) (*kills, error) {
	k := &kills{n: n, moves: map[string]int{}}
	count := p.counter(string(mode)+" kills", n)
	for i := range n {
		// A fresh echo proves the carrier works before it is cut.
		time.Sleep(settleTime)
		if _, err := f.echoSentAfter(ctx, time.Now()); err != nil {
			return k, fmt.Errorf("before kill %d: %w", i+1, err)
		}
		from := c.Active()
		if from == "" {
			return k, fmt.Errorf("before kill %d: no active carrier", i+1)
		}
		t0 := time.Now()
		if _, err := l.Censor.Kill(censor.Selector{Transport: from}, mode); err != nil {
			return k, err
		}
		got, err := f.echoSentAfter(ctx, t0)
		if err != nil {
			return k, fmt.Errorf("kill %d of %s: %w", i+1, from, err)
		}
		k.gaps = append(k.gaps, got.Sub(t0))
		lost, to := lossAndMove(c.Events(), t0)
		if lost.IsZero() {
			k.stayed++
		} else {
			k.detect = append(k.detect, lost.Sub(t0))
			k.moves[from+" → "+to]++
		}
		count.tick(i + 1)
	}
	return k, nil
}

// lossAndMove finds, among events, the first loss after t0 and the transport the
// session resumed on after it.
func lossAndMove(events []lab.Event, t0 time.Time) (lost time.Time, to string) {
	for _, e := range events {
		if e.At.Before(t0) {
			continue
		}
		switch {
		case e.Kind == client.EventLost && lost.IsZero():
			lost = e.At
		case (e.Kind == client.EventResumed || e.Kind == client.EventActive) && !lost.IsZero():
			return lost, e.Name
		}
	}
	return lost, "?"
}

func (k *kills) row(mode censor.KillMode) row {
	how := map[censor.KillMode]string{
		censor.KillSilent: "silent (nothing relayed, no FIN or RST: the client's watchdog must notice, and a spare raised on suspicion carries on)",
		censor.KillReset:  "with a reset (both sockets get an RST)",
	}[mode]
	moves := slices.Sorted(maps.Keys(k.moves))
	for i, m := range moves {
		moves[i] = fmt.Sprintf("%s ×%d", m, k.moves[m])
	}
	note := fmt.Sprintf("%d kills of the active carrier, %s, while %d-byte records are echoed every %s; loss noticed %s after the kill",
		k.n, how, recordSize, flowInterval, k.detect.p50p99())
	if k.stayed > 0 {
		note += fmt.Sprintf("; %d times the carrier recovered without a move", k.stayed)
	}
	note += "; moves: " + strings.Join(moves, ", ")
	r := row{measure: fmt.Sprintf("Failover, %s kill → first byte on the new carrier", mode),
		path: "client with every bridge line, through the censor", result: k.gaps.p50p99(), how: note}
	if mode == censor.KillSilent {
		r.target, r.met = "p99 < "+sec(failoverTarget), targetMet(k.gaps.percentile(99) < failoverTarget)
	}
	return r
}

// flow keeps records going through an echo stream and checks that each comes back
// once, in order.
type flow struct {
	conn     net.Conn
	start    time.Time
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu      sync.Mutex
	err     error
	waiters []*echoWaiter
}

// echoWaiter wants the arrival time of the first echo of a record sent at or after
// sentAfter (as an offset from the flow's start).
type echoWaiter struct {
	sentAfter time.Duration
	got       chan time.Time
}

func startFlow(conn net.Conn) *flow {
	f := &flow{conn: conn, start: time.Now(), stop: make(chan struct{})}
	f.wg.Go(f.write)
	f.wg.Go(f.read)
	return f
}

// close stops the flow and closes its stream; it may be called again.
func (f *flow) close() {
	f.stopOnce.Do(func() {
		close(f.stop)
		f.conn.Close()
	})
	f.wg.Wait()
}

func (f *flow) fail(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *flow) write() {
	tick := time.NewTicker(flowInterval)
	defer tick.Stop()
	var rec [recordSize]byte
	for seq := uint64(0); ; seq++ {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		binary.BigEndian.PutUint64(rec[:8], seq)
		binary.BigEndian.PutUint64(rec[8:], uint64(time.Since(f.start)))
		if _, err := f.conn.Write(rec[:]); err != nil {
			f.fail(fmt.Errorf("write record %d: %w", seq, err))
			return
		}
	}
}

func (f *flow) read() {
	var rec [recordSize]byte
	for want := uint64(0); ; want++ {
		if _, err := io.ReadFull(f.conn, rec[:]); err != nil {
			f.fail(fmt.Errorf("read echo of record %d: %w", want, err))
			return
		}
		arrived := time.Now()
		if seq := binary.BigEndian.Uint64(rec[:8]); seq != want {
			f.fail(fmt.Errorf("echo of record %d where %d was due: lost, duplicated or reordered", seq, want))
			return
		}
		sent := time.Duration(binary.BigEndian.Uint64(rec[8:]))
		f.mu.Lock()
		f.waiters = slices.DeleteFunc(f.waiters, func(w *echoWaiter) bool {
			if sent < w.sentAfter {
				return false
			}
			w.got <- arrived
			return true
		})
		f.mu.Unlock()
	}
}

// echoSentAfter waits for the echo of the first record sent after t and returns when
// it arrived.
func (f *flow) echoSentAfter(ctx context.Context, t time.Time) (time.Time, error) {
	w := &echoWaiter{sentAfter: t.Sub(f.start), got: make(chan time.Time, 1)}
	f.mu.Lock()
	if err := f.err; err != nil {
		f.mu.Unlock()
		return time.Time{}, err
	}
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	guard := time.NewTimer(failoverGuard)
	defer guard.Stop()
	for {
		select {
		case at := <-w.got:
			return at, nil
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-guard.C:
			f.mu.Lock()
			err := f.err
			f.mu.Unlock()
			return time.Time{}, fmt.Errorf("no echo of data sent after the kill within %s (flow: %v)", failoverGuard, err)
		case <-time.After(100 * time.Millisecond):
			f.mu.Lock()
			err := f.err
			f.mu.Unlock()
			if err != nil {
				return time.Time{}, err
			}
		}
	}
}
