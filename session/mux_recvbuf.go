package session

import (
	"sync"
	"time"
)

// recvQueue holds a stream's received bytes in pooled chunks, taken as data arrives
// and returned as it is read: an idle stream holds none. On the gateway the chunks
// count against its budget, from push until free.
type recvQueue struct {
	chunks []recvChunk
	size   int
	acct   *account
}

// recvChunk is buf[r:w], not yet read.
type recvChunk struct {
	buf  *[chunkSize]byte
	r, w int
}

// push queues the first n bytes of c, which becomes the queue's. A small payload is
// copied into the last chunk when it fits, so a window's worth of tiny frames cannot
// hold a chunk each.
func (q *recvQueue) push(c *[chunkSize]byte, n int) {
	q.size += n
	if k := len(q.chunks); k > 0 && chunkSize-q.chunks[k-1].w >= n {
		last := &q.chunks[k-1]
		last.w += copy(last.buf[last.w:], c[:n])
		chunkPool.Put(c)
		return
	}
	q.chunks = append(q.chunks, recvChunk{buf: c, w: n})
	q.acct.take(chunkSize)
}

// free returns a chunk the queue gave away (pop) to the pool.
func (q *recvQueue) free(c *[chunkSize]byte) {
	chunkPool.Put(c)
	q.acct.give(chunkSize)
}

// read moves queued bytes into p.
func (q *recvQueue) read(p []byte) int {
	total := 0
	for _, c := range q.chunks {
		if total == len(p) {
			break
		}
		total += copy(p[total:], c.buf[c.r:c.w])
	}
	q.drop(total)
	return total
}

// pop takes the first chunk out of the queue; its bytes are the caller's to read and
// the chunk the caller's to free.
func (q *recvQueue) pop() recvChunk {
	c := q.chunks[0]
	q.chunks[0] = recvChunk{}
	q.chunks = q.chunks[1:]
	if len(q.chunks) == 0 {
		q.chunks = nil
	}
	if c.r < c.w {
		q.size -= c.w - c.r
	}
	return c
}

// drop discards the first n queued bytes, which the caller has delivered.
func (q *recvQueue) drop(n int) {
	q.size -= n
	for n > 0 {
		c := &q.chunks[0]
		k := min(n, c.w-c.r)
		c.r += k
		n -= k
		if c.r == c.w {
			q.free(q.pop().buf)
		}
	}
}

// release drops every queued byte.
func (q *recvQueue) release() {
	for _, c := range q.chunks {
		q.free(c.buf)
	}
	q.chunks, q.size = nil, 0 // acct stays, unwritten after newStream: free reads it unlocked
}

// deadline is one direction of a stream's deadline, guarded by the stream's mutex:
// passed, and the channel closed when it passes, for waiters.
type deadline struct {
	gen    uint64 // counts sets, so that a timer from an earlier set does nothing
	timer  *time.Timer
	passed bool
	ch     chan struct{}
}

// set moves the deadline to t (zero: none; past: now). mu is the owner's, held;
// passed, if not nil, is called with it held when the deadline passes.
func (d *deadline) set(mu *sync.Mutex, t time.Time, passed func()) {
	d.stop()
	if d.passed {
		d.passed, d.ch = false, nil
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		d.pass()
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() {
		mu.Lock()
		defer mu.Unlock()
		if d.gen == gen {
			d.pass()
			if passed != nil {
				passed()
			}
		}
	})
}

func (d *deadline) stop() {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func (d *deadline) pass() {
	d.timer = nil
	d.passed = true
	if d.ch != nil {
		close(d.ch)
	} else {
		d.ch = closedChan
	}
}

// done is closed when the deadline passes; nil (never ready) while none is set.
func (d *deadline) done() <-chan struct{} {
	if d.timer == nil && !d.passed {
		return nil
	}
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}
