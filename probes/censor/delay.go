package censor

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// Delay holds a flow's bytes back in each direction, as a long or congested path
// does: every chunk a TCP flow relays, and every datagram of a UDP flow, leaves a
// base delay plus a uniform jitter after it arrived, in user space, for kernels
// without netem. Order is kept: a chunk leaves no sooner than the one before it, so
// jitter is felt as a varying delay, never as reordering (which TCP cannot deliver,
// and which netem adds to UDP only when its jitter exceeds the packet spacing).
// Several Delay policies on one flow add up.
type Delay struct {
	Scope
	// Up and Down are the client→server and server→client delays.
	Up, Down time.Duration
	// Jitter spreads each delay uniformly over ±Jitter, never below zero.
	Jitter time.Duration
}

func parseDelay(args transports.Args, s Scope) (*Delay, error) {
	if err := args.Unknown("time", "up", "down", "jitter"); err != nil {
		return nil, err
	}
	both, err := nonNegative(args, "time", 0)
	if err != nil {
		return nil, err
	}
	p := &Delay{Scope: s}
	if p.Up, err = nonNegative(args, "up", both); err != nil {
		return nil, err
	}
	if p.Down, err = nonNegative(args, "down", both); err != nil {
		return nil, err
	}
	if p.Jitter, err = nonNegative(args, "jitter", 0); err != nil {
		return nil, err
	}
	return p, nil
}

// nonNegative reads a duration that may be zero ("0s").
func nonNegative(args transports.Args, key string, def time.Duration) (time.Duration, error) {
	v, ok := args[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, &transports.ArgError{Key: key, Err: fmt.Errorf("want a duration like 50ms, got %q", v)}
	}
	return d, nil
}

func (*Delay) Name() string { return "delay" }

func (p *Delay) String() string {
	return spec("delay", p.Scope, "up", p.Up.String(), "down", p.Down.String(), "jitter", p.Jitter.String())
}

func (p *Delay) shape(_ Flow, s *shaping) (Verdict, string) {
	s.lagUp.add(p.Up, p.Jitter)
	s.lagDown.add(p.Down, p.Jitter)
	return Delayed, fmt.Sprintf("client→server %v, server→client %v, each ±%v", p.Up, p.Down, p.Jitter)
}

// lag is one direction's delay.
type lag struct{ base, jitter time.Duration }

func (l *lag) add(base, jitter time.Duration) { l.base, l.jitter = l.base+base, l.jitter+jitter }

func (l lag) none() bool { return l.base == 0 && l.jitter == 0 }

// draw returns one chunk's delay.
func (l lag) draw() time.Duration {
	d := l.base
	if l.jitter > 0 {
		d += rand.N(2*l.jitter+1) - l.jitter
	}
	return max(d, 0)
}

// maxDelayed bounds the bytes one direction of a flow holds: a TCP relay stops reading
// when it is full (the sender's window closes, as behind a slow link), a UDP one drops
// what does not fit (as a router's queue does). 4 MiB holds a second at 32 Mbit/s.
const maxDelayed = 4 << 20

// delayLine passes chunks on to write after their delay, in order, from a goroutine of
// its own.
type delayLine struct {
	lag   lag
	write func([]byte) error

	mu     sync.Mutex
	queue  []delayed
	held   int
	last   time.Time // when the last chunk queued leaves
	err    error     // the first write error; the line then drops everything
	closed bool
	wake   chan struct{} // a chunk was queued, or the line closed
	room   chan struct{} // a chunk left
	empty  chan struct{} // closed when the queue drains; nil while not asked
	done   chan struct{} // closed when the writer has returned
}

type delayed struct {
	b  []byte
	at time.Time
}

func newDelayLine(l lag, write func([]byte) error) *delayLine {
	d := &delayLine{lag: l, write: write, wake: make(chan struct{}, 1), room: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

// push queues a copy of b. With wait, it waits for room (or stop) when the line is
// full; without, it drops b and reports false. It returns the line's write error.
func (d *delayLine) push(b []byte, wait bool, stop <-chan struct{}) (bool, error) {
	d.mu.Lock()
	for d.held+len(b) > maxDelayed && d.held > 0 && d.err == nil && !d.closed {
		if !wait {
			d.mu.Unlock()
			return false, nil
		}
		d.mu.Unlock()
		select {
		case <-d.room:
		case <-stop:
			return false, nil
		}
		d.mu.Lock()
	}
	defer d.mu.Unlock()
	if d.err != nil || d.closed {
		return false, d.err
	}
	at := later(time.Now().Add(d.lag.draw()), d.last)
	d.last = at
	d.queue = append(d.queue, delayed{b: append([]byte(nil), b...), at: at})
	d.held += len(b)
	signal(d.wake)
	return true, nil
}

// drain waits until every chunk queued has been written, or the line failed or stopped.
func (d *delayLine) drain() error {
	d.mu.Lock()
	if len(d.queue) == 0 || d.err != nil || d.closed {
		defer d.mu.Unlock()
		return d.err
	}
	if d.empty == nil {
		d.empty = make(chan struct{})
	}
	empty := d.empty
	d.mu.Unlock()
	select {
	case <-empty:
	case <-d.done:
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// stop ends the line; what it holds is dropped.
func (d *delayLine) stop() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	signal(d.wake)
	<-d.done
}

func (d *delayLine) run() {
	defer close(d.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return
		}
		if len(d.queue) == 0 {
			if d.empty != nil {
				close(d.empty)
				d.empty = nil
			}
			d.mu.Unlock()
			<-d.wake
			continue
		}
		next := d.queue[0]
		d.mu.Unlock()
		if wait := time.Until(next.at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-d.wake: // the line may have closed; a new chunk leaves later anyway
				timer.Stop()
				continue
			}
		}
		err := d.write(next.b)
		d.mu.Lock()
		d.queue = d.queue[1:]
		d.held -= len(next.b)
		if err != nil && d.err == nil {
			d.err = err
			d.queue, d.held = nil, 0
		}
		d.mu.Unlock()
		signal(d.room)
	}
}

// signal wakes whoever waits on c, without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
