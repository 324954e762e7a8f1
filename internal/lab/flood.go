package lab

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// FloodConfig is an adversary that fills a gateway's listeners, as in the lock-out of
// issue 10: idle connections that say nothing, and junk connections that say
// something random, from several addresses.
type FloodConfig struct {
	// Targets are the listener addresses flooded, in turn.
	Targets []string
	// Sources are the loopback addresses the flood connects from, in turn: one
	// attacker with several addresses, each a source group of its own.
	Sources []string
	// Idle connections are kept open, sending nothing; one the gateway closes is
	// opened again at once.
	Idle int
	// JunkRate new connections a second send 1 to 2000 random bytes each, as a
	// scanner or prober does, and close after JunkWait unless the gateway closed
	// them first (at most MaxJunk are open at once; beyond, the flood waits).
	JunkRate int
	JunkWait time.Duration // 0 means 2 s
	MaxJunk  int           // 0 means 4·JunkRate
	// DialRate bounds the connections the flood opens a second, its idle ones (and
	// their reopening) and its junk together; 0 means DefaultDialRate.
	DialRate int
}

// DefaultDialRate is the flood's connection rate unless FloodConfig says otherwise,
// handed out evenly in 10 ms portions. Thousands of connects in one instant overflow
// loopback's receive backlog (net.core.netdev_max_backlog, 1000 by default): the
// kernel drops packets of every flow on the machine, the chat's too, and their 200 ms
// retransmissions then measure the kernel, not the gateway (seen: 1,045 drops and a
// 233 ms chat p99 in one run); a flood across a real network meets the same limit at
// the server's NIC. 4000 a second still fills four listeners' 1024 places, which a
// silent peer holds for the 2 s first-bytes timeout (512 a second each).
const DefaultDialRate = 4000

// Flood runs a FloodConfig until Stop.
type Flood struct {
	cfg    FloodConfig
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	next   atomic.Uint64 // round robin over targets and sources
	idle   atomic.Int64  // idle connections open now
	ramped atomic.Int64  // idle connections opened at least once
	junk   atomic.Int64  // junk connections open now
	opened atomic.Int64  // connections opened in all
	junked atomic.Int64  // junk connections opened in all
	closed atomic.Int64  // connections the gateway closed

	slots chan struct{} // one per connection the flood may open now (DialRate)

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// StartFlood starts the flood; it runs until Stop.
func StartFlood(cfg FloodConfig) (*Flood, error) {
	if len(cfg.Targets) == 0 || len(cfg.Sources) == 0 {
		return nil, errors.New("lab: flood: no targets or no sources")
	}
	if cfg.MaxJunk <= 0 {
		cfg.MaxJunk = 4 * cfg.JunkRate
	}
	if cfg.JunkWait <= 0 {
		cfg.JunkWait = 2 * time.Second
	}
	if cfg.DialRate <= 0 {
		cfg.DialRate = DefaultDialRate
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Flood{cfg: cfg, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{},
		slots: make(chan struct{}, max(cfg.DialRate/paceTicks, 1))}
	f.wg.Go(f.pace)
	for range cfg.Idle {
		f.wg.Go(f.keepIdle)
	}
	if cfg.JunkRate > 0 {
		f.wg.Go(f.sendJunk)
	}
	return f, nil
}

// Stop ends the flood and closes its connections.
func (f *Flood) Stop() {
	f.cancel()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// FloodStats is what the flood did so far.
type FloodStats struct {
	Idle, Junk             int64 // open now
	Opened, Junked, Closed int64 // in all: connections, junk ones, and the gateway's closes
}

// Stats reports the flood's connections.
func (f *Flood) Stats() FloodStats {
	return FloodStats{Idle: f.idle.Load(), Junk: f.junk.Load(), Opened: f.opened.Load(), Junked: f.junked.Load(), Closed: f.closed.Load()}
}

// WaitIdle waits until every idle connection has been opened once, or ctx ends. (The
// gateway may close some before the last opens: they are opened again, but not all
// are open at every moment.)
func (f *Flood) WaitIdle(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for f.ramped.Load() < int64(f.cfg.Idle) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("lab: flood: %d of %d idle connections opened: %w", f.ramped.Load(), f.cfg.Idle, ctx.Err())
		}
	}
	return nil
}

// keepIdle holds one idle connection open until Stop, opening it again whenever the
// gateway closes it.
func (f *Flood) keepIdle() {
	for first := true; f.ctx.Err() == nil; {
		c, err := f.dial()
		if err != nil {
			f.pause()
			continue
		}
		if first {
			f.ramped.Add(1)
			first = false
		}
		f.idle.Add(1)
		f.waitClose(c)
		f.idle.Add(-1)
	}
}

// sendJunk opens JunkRate connections a second, each sending random bytes. It keeps
// the rate on average: a busy machine delays ticks, and the next tick catches up.
func (f *Flood) sendJunk() {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start, started := time.Now(), 0
	for {
		select {
		case <-tick.C:
		case <-f.ctx.Done():
			return
		}
		for due := int(time.Since(start).Seconds() * float64(f.cfg.JunkRate)); started < due; started++ {
			f.junkOne()
		}
	}
}

// junkOne opens one junk connection, unless MaxJunk are open.
func (f *Flood) junkOne() {
	if f.junk.Load() >= int64(f.cfg.MaxJunk) {
		return
	}
	f.junk.Add(1)
	f.wg.Go(func() {
		defer f.junk.Add(-1)
		c, err := f.dial()
		if err != nil {
			return
		}
		f.junked.Add(1)
		junk := make([]byte, 1+mrand.IntN(2000))
		rand.Read(junk)
		c.Write(junk)
		c.SetReadDeadline(time.Now().Add(f.cfg.JunkWait))
		f.waitClose(c)
	})
}

// paceTicks is how often a second pace hands out connection slots.
const paceTicks = 100

// pace hands out DialRate slots a second, in paceTicks portions; slots not taken in
// their tick are not saved up beyond one tick's worth.
func (f *Flood) pace() {
	tick := time.NewTicker(time.Second / paceTicks)
	defer tick.Stop()
	start, given := time.Now(), 0
	for {
		select {
		case <-tick.C:
		case <-f.ctx.Done():
			return
		}
		due := int(time.Since(start).Seconds() * float64(f.cfg.DialRate))
		for given < due {
			select {
			case f.slots <- struct{}{}:
				given++
			default:
				given = due // the flood is not using them: drop the rest
			}
		}
	}
}

// dial connects to the next target from the next source, once pace allows.
func (f *Flood) dial() (net.Conn, error) {
	select {
	case <-f.slots:
	case <-f.ctx.Done():
		return nil, f.ctx.Err()
	}
	n := f.next.Add(1)
	src := f.cfg.Sources[n%uint64(len(f.cfg.Sources))]
	dst := f.cfg.Targets[n%uint64(len(f.cfg.Targets))]
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.DialContext(f.ctx, "tcp", dst)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.ctx.Err() != nil {
		f.mu.Unlock()
		c.Close()
		return nil, f.ctx.Err()
	}
	f.conns[c] = struct{}{}
	f.mu.Unlock()
	f.opened.Add(1)
	return c, nil
}

// waitClose reads until the gateway closes c (or Stop does), then forgets it.
func (f *Flood) waitClose(c net.Conn) {
	buf := make([]byte, 512)
	var err error
	for err == nil {
		_, err = c.Read(buf)
	}
	if f.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
		f.closed.Add(1)
	}
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

// pause backs off after a failed dial (out of ports or descriptors), until Stop.
func (f *Flood) pause() {
	select {
	case <-time.After(50 * time.Millisecond):
	case <-f.ctx.Done():
	}
}

// RaiseFileLimit lifts RLIMIT_NOFILE to want, for a process that holds thousands of
// connections (both ends of a flood, in a test). Root may raise the hard limit;
// others get the hard one. It returns the limit in force.
func RaiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	raised := syscall.Rlimit{Cur: want, Max: max(want, lim.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
		return want, nil
	}
	hard := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &hard); err != nil {
		return lim.Cur, fmt.Errorf("set RLIMIT_NOFILE to %d: %w", lim.Max, err)
	}
	return hard.Cur, fmt.Errorf("hard limit is %d, below the %d wanted", lim.Max, want)
}
