package websocket

import (
	"context"
	"net"
	"os"
	"sync"
	"time"
)

// deadline is one direction's net.Conn deadline: a channel that is closed once it has
// passed, and the cancel func of the operation it should interrupt then.
type deadline struct {
	mu      sync.Mutex
	gen     uint64 // bumped by set, so a timer from an earlier set does nothing
	timer   *time.Timer
	expired chan struct{}
	abort   context.CancelFunc
}

func newDeadline() *deadline { return &deadline{expired: make(chan struct{})} }

// set moves the deadline to t; the zero t means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if isClosed(d.expired) {
		d.expired = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		d.expireLocked()
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen {
			d.expireLocked()
		}
	})
}

func (d *deadline) expireLocked() {
	close(d.expired)
	if d.abort != nil {
		d.abort()
	}
}

// wait returns a channel closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

func (d *deadline) passed() bool { return isClosed(d.wait()) }

// arm makes abort run when the deadline passes, until disarm; it reports false, and
// registers nothing, when the deadline has passed already.
func (d *deadline) arm(abort context.CancelFunc) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if isClosed(d.expired) {
		return false
	}
	d.abort = abort
	return true
}

func (d *deadline) disarm() {
	d.mu.Lock()
	d.abort = nil
	d.mu.Unlock()
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// timeoutError is what Read and Write return when their deadline passed: a net.Error
// whose Timeout is true, wrapping os.ErrDeadlineExceeded as net's own conns do.
func timeoutError(op string) error {
	return &net.OpError{Op: op, Net: "websocket", Err: os.ErrDeadlineExceeded}
}
