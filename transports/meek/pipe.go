package meek

import (
	"errors"
	"github.com/umbrella-edge/edge/transports/internal/deadline"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// end is what a request or response says about its sender's side of the session, in
// the X-Session-End header, once everything that side wrote has been carried.
type end uint8

const (
	endNone  end = iota
	endEOF       // "eof": the sender will send nothing more (CloseWrite)
	endClose     // "close": the sender closed the session and reads nothing more
)

var errWriteAfterCloseWrite = errors.New("meek: write after CloseWrite")

// pipe is the buffered middle of a meek conn, on either side. Write fills out and the
// carrier (the client's poller, the server's request handler) empties it into HTTP
// bodies; the carrier fills in from the bodies it receives and Read empties it. Both
// queues are bounded: Write blocks on a full out, and the carrier tells the peer how
// much room in has (its window), so the peer never sends more than fits.
type pipe struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change of state

	in, out    byteQueue
	inEOF      bool  // the peer sent its last byte: Read ends with io.EOF once in is empty
	outEOF     bool  // CloseWrite or Close: no more Writes
	peerClosed bool  // the peer closed: Writes fail
	closed     bool  // own Close
	rejected   bool  // server side: the gateway rejected the peer (Reject)
	err        error // the carrier failed: Read (once in is empty) and Write return it
	starved    int   // Reads waiting on an empty in
	consumed   int   // bytes Read so far, up to maxRequestBody
	wrote      bool  // Write has taken bytes: the server side has spoken

	readDL, writeDL deadline.Deadline
	local, remote   net.Addr
}

func newPipe(local, remote net.Addr) *pipe {
	return &pipe{changed: make(chan struct{}), local: local, remote: remote}
}

// notifyLocked wakes everyone waiting for a change.
func (p *pipe) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// waitLocked waits, with p.mu unlocked, for a change of state or for dl to pass.
func (p *pipe) waitLocked(dl *deadline.Deadline) {
	ch, expired := p.changed, dl.Done()
	p.mu.Unlock()
	select {
	case <-ch:
	case <-expired:
	}
	p.mu.Lock()
}

func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.closed:
			return 0, net.ErrClosed
		case p.readDL.Passed():
			return 0, os.ErrDeadlineExceeded
		case p.in.len() > 0:
			n := p.in.pop(b)
			p.consumed = min(p.consumed+n, maxRequestBody)
			p.notifyLocked() // the window grew
			return n, nil
		case p.inEOF:
			return 0, io.EOF
		case p.err != nil:
			return 0, p.err
		case len(b) == 0:
			return 0, nil
		}
		p.starved++
		if p.starved == 1 {
			// A server holding a first response waits for a Read to starve. Only the
			// first waiting Read says so: if every waking Read notified, Reads sharing
			// a conn would wake each other for ever, and with one P starve the carrier.
			p.notifyLocked()
		}
		p.waitLocked(&p.readDL)
		p.starved--
	}
}

func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for {
		switch {
		case p.closed:
			return n, net.ErrClosed
		case p.outEOF:
			return n, errWriteAfterCloseWrite
		case p.peerClosed:
			return n, ErrPeerClosed
		case p.err != nil:
			return n, p.err
		case p.writeDL.Passed():
			return n, os.ErrDeadlineExceeded
		case n == len(b):
			return n, nil
		}
		if room := queueSize - p.out.len(); room > 0 {
			k := min(room, len(b)-n)
			p.out.push(b[n : n+k])
			n += k
			p.wrote = true
			p.notifyLocked()
			continue
		}
		p.waitLocked(&p.writeDL)
	}
}

// CloseWrite sends the peer an end of stream once what was written has been carried;
// Read still works.
func (p *pipe) CloseWrite() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	p.outEOF = true
	p.notifyLocked()
	return nil
}

// closePipe ends the conn for its user. What was written is still carried, as TCP
// sends what is in its buffer after close; what arrives from now on is dropped.
func (p *pipe) closePipe() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	p.closed, p.outEOF = true, true
	p.in.reset()
	p.notifyLocked()
	return nil
}

func (p *pipe) LocalAddr() net.Addr  { return p.local }
func (p *pipe) RemoteAddr() net.Addr { return p.remote }

func (p *pipe) SetDeadline(t time.Time) error {
	p.readDL.Set(t)
	p.writeDL.Set(t)
	return nil
}

func (p *pipe) SetReadDeadline(t time.Time) error  { p.readDL.Set(t); return nil }
func (p *pipe) SetWriteDeadline(t time.Time) error { p.writeDL.Set(t); return nil }

// The carrier's side.

// snapshot is the pipe's state as the carrier decides when to send.
type snapshot struct {
	outLen   int
	end      end // what to tell the peer once out is empty
	window   int // room in in
	starved  bool
	consumed int
	closed   bool
	rejected bool
	failed   bool
}

func (p *pipe) state() (snapshot, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return snapshot{
		outLen:   p.out.len(),
		end:      p.endLocked(),
		window:   p.windowLocked(),
		starved:  p.starved > 0 && p.in.len() == 0,
		consumed: p.consumed,
		closed:   p.closed,
		rejected: p.rejected,
		failed:   p.err != nil,
	}, p.changed
}

func (p *pipe) endLocked() end {
	switch {
	case p.closed:
		return endClose
	case p.outEOF:
		return endEOF
	}
	return endNone
}

// windowLocked is how many bytes the peer may send. A closed pipe drops what comes,
// so it asks for nothing.
func (p *pipe) windowLocked() int {
	if p.closed {
		return 0
	}
	return queueSize - p.in.len()
}

// take moves up to len(dst) bytes of out into dst for the carrier to send, and says
// what the carrier must tell the peer with them: an end only once out is empty.
func (p *pipe) take(dst []byte) (int, end, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.out.pop(dst)
	if n > 0 {
		p.notifyLocked() // room for Writes
	}
	e := endNone
	if p.out.len() == 0 {
		e = p.endLocked()
	}
	return n, e, p.windowLocked()
}

// deliver hands what the peer sent to Read. More than the window the pipe last
// announced is a protocol violation: a peer that honours the window never sends it.
func (p *pipe) deliver(data []byte, e end) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		if len(data) > p.windowLocked() {
			return errWindowExceeded
		}
		p.in.push(data)
	}
	switch e {
	case endClose:
		p.inEOF, p.peerClosed = true, true
	case endEOF:
		p.inEOF = true
	}
	p.notifyLocked()
	return nil
}

// fail ends the conn with err for its user, unless it already ended.
func (p *pipe) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		p.notifyLocked()
	}
}

// hasWritten reports whether Write ever took bytes.
func (p *pipe) hasWritten() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wrote
}

// reject marks the pipe rejected by the gateway and closes it. Like closePipe, it
// returns net.ErrClosed when the pipe was closed already.
func (p *pipe) reject() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	if p.closed {
		err = net.ErrClosed
	}
	p.rejected, p.closed, p.outEOF = true, true, true
	p.in.reset()
	p.out.reset()
	p.notifyLocked()
	return err
}

// byteQueue is a FIFO of bytes held in pooled chunks: taken as bytes arrive, returned
// as they leave. A busy queue reuses the same few chunks and an idle one holds none.
// (A slice that grew by append and was dropped whenever it emptied allocated up to
// 512 KiB per fill: most of a meek client's allocations, and the garbage that its
// heap, and so its RSS, grew by during a bulk transfer.)
type byteQueue struct {
	chunks []*[queueChunk]byte
	r, w   int // read offset in the first chunk, write offset in the last
	n      int // bytes queued
}

// queueChunk is a byteQueue's unit: a whole request body is four of them.
const queueChunk = 16 << 10

var chunkPool = sync.Pool{New: func() any { return new([queueChunk]byte) }}

func (q *byteQueue) len() int { return q.n }

func (q *byteQueue) push(b []byte) {
	q.n += len(b)
	for len(b) > 0 {
		if len(q.chunks) == 0 || q.w == queueChunk {
			q.chunks = append(q.chunks, chunkPool.Get().(*[queueChunk]byte))
			q.w = 0
		}
		k := copy(q.chunks[len(q.chunks)-1][q.w:], b)
		q.w += k
		b = b[k:]
	}
}

func (q *byteQueue) pop(dst []byte) int {
	total := 0
	for len(dst) > 0 && q.n > 0 {
		end := queueChunk
		if len(q.chunks) == 1 {
			end = q.w
		}
		k := copy(dst, q.chunks[0][q.r:end])
		q.r += k
		q.n -= k
		dst = dst[k:]
		total += k
		if q.r == end && q.n > 0 {
			chunkPool.Put(q.chunks[0])
			q.chunks[0] = nil
			q.chunks, q.r = q.chunks[1:], 0
		}
	}
	if q.n == 0 {
		q.reset()
	}
	return total
}

// reset drops every queued byte and returns the chunks.
func (q *byteQueue) reset() {
	for _, c := range q.chunks {
		chunkPool.Put(c)
	}
	q.chunks, q.r, q.w, q.n = nil, 0, 0, 0
}
