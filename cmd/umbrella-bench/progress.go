package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress tells the person waiting which step runs and how far it got, on stderr.
type progress struct {
	w     io.Writer
	start time.Time
	mu    sync.Mutex
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

func (p *progress) step(i, n int, name string) {
	p.say("step %d/%d: %s", i, n, name)
}

func (p *progress) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// counter reports done/total at most every second while a loop runs.
type counter struct {
	p     *progress
	what  string
	total int
	last  time.Time
}

func (p *progress) counter(what string, total int) *counter {
	return &counter{p: p, what: what, total: total, last: time.Now()}
}

// tick reports done when a second has passed since the last report. Callers running
// concurrently serialise their calls.
func (c *counter) tick(done int) {
	if time.Since(c.last) < time.Second {
		return
	}
	c.last = time.Now()
	c.p.say("  %s: %d/%d", c.what, done, c.total)
}
