// Package deadline is a net.Conn read or write deadline for conns made of goroutines
// and channels rather than one socket (meek's request pipe, a WebSocket's messages).
package deadline

import (
	"context"
	"net"
	"os"
	"sync"
	"time"
)

// A Deadline is one direction's deadline: a channel closed once it has passed, and,
// while armed, the cancel func of an operation to interrupt then. The zero Deadline
// is set to no deadline. It is safe for concurrent use.
type Deadline struct {
	mu     sync.Mutex
	gen    uint64 // counts Set calls, so a timer from an earlier Set does nothing
	timer  *time.Timer
	ch     chan struct{}
	passed bool
	abort  context.CancelFunc
}

// Set moves the deadline to t: the zero t means none, a past t passes it now.
func (d *Deadline) Set(t time.Time) {
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
		d.passLocked()
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen {
			d.passLocked()
		}
	})
}

func (d *Deadline) passLocked() {
	close(d.chanLocked())
	d.passed = true
	if d.abort != nil {
		d.abort()
	}
}

func (d *Deadline) chanLocked() chan struct{} {
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

// Done is closed when the deadline passes. Take it before checking Passed, so a
// deadline that passes in between still wakes the waiter.
func (d *Deadline) Done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chanLocked()
}

// Passed reports whether the deadline has passed.
func (d *Deadline) Passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passed
}

// Arm makes abort run when the deadline passes, until Disarm. It reports false, and
// registers nothing, when the deadline has passed already.
func (d *Deadline) Arm(abort context.CancelFunc) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.passed {
		return false
	}
	d.abort = abort
	return true
}

// Disarm forgets the func Arm registered.
func (d *Deadline) Disarm() {
	d.mu.Lock()
	d.abort = nil
	d.mu.Unlock()
}

// TimeoutError is what a Read or Write whose deadline passed returns: a net.Error
// whose Timeout is true, wrapping os.ErrDeadlineExceeded as net's own conns do.
func TimeoutError(op, network string) error {
	return &net.OpError{Op: op, Net: network, Err: os.ErrDeadlineExceeded}
}
