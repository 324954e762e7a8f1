package meek

import (
	"sync"
	"time"
)

// deadline is one of a conn's read or write deadlines: a channel that is closed once
// the deadline has passed, so a blocked Read or Write can select on it.
type deadline struct {
	mu     sync.Mutex
	gen    int // counts set calls, so a stale timer does nothing
	timer  *time.Timer
	ch     chan struct{}
	passed bool
}

// set arms the deadline for t; the zero time disarms it, a past time fires it now.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.passed {
		d.ch, d.passed = nil, false
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		d.fireLocked()
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen {
			d.fireLocked()
		}
	})
}

func (d *deadline) fireLocked() {
	close(d.chanLocked())
	d.passed = true
}

func (d *deadline) chanLocked() chan struct{} {
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

// done is closed when the deadline passes. Take it before checking expired, so a
// deadline that passes in between still wakes the waiter.
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chanLocked()
}

func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passed
}
