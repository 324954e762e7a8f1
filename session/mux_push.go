package session

import (
	"io"
	"net"
	"sync"
)

// A stream that pushes writes what it receives to a writer from a goroutine of its
// own that runs only while there is something to write: a relay from an idle stream
// to a backend then holds no goroutine and no buffer, where a Read or WriteTo loop
// would hold a goroutine (and its stack) for every idle stream.

// pusher is a pushing stream's destination and its state, guarded by the stream's mu.
type pusher struct {
	w       io.Writer
	done    func(error)
	running bool // a push goroutine runs
}

// pushTo makes s write what it receives, and what it holds already, to w until the
// peer's FIN, then calls done(nil); or until reading or writing fails (the stream
// closed or reset, the session ended, w failed), then calls done with that error.
// done is called once, from a goroutine of s's. Nothing else may read s meanwhile.
func (s *muxStream) pushTo(w io.Writer, done func(error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push = &pusher{w: w, done: done}
	s.readableLocked()
}

// readableLocked wakes whoever reads s: a Read or WriteTo waiting, or, when s pushes,
// a push goroutine if none runs, unless a message's worth could be written at once.
func (s *muxStream) readableLocked() {
	s.readable.notify()
	if p := s.push; p != nil && !p.running && !s.tryPushLocked(p) {
		p.running = true
		go s.pushAll(p)
	}
}

// maxTryPush is the most a stream holds for tryPushLocked to write it: a chat's
// message. Bulk data is the push goroutine's, which batches it and leaves the reader
// to open the next record meanwhile.
const maxTryPush = 8 << 10

// A tryBuffersWriter writes what it can of bufs without waiting (a socket's writev
// with nothing queued in front of it), returning how much went; errors.ErrUnsupported
// when it cannot write without waiting at all.
type tryBuffersWriter interface {
	TryWriteBuffers(bufs [][]byte) (int, error)
}

// tryPushLocked writes what s holds to p's writer if that takes no waiting, sparing
// the start and wake-up of a push goroutine for each message: on a chat's round trip
// that was one per direction and end. It reports whether nothing is left for a push
// goroutine to do (nothing was, when s holds nothing and has no end to report). s.mu
// held: the write does not wait, and no push runs meanwhile.
func (s *muxStream) tryPushLocked(p *pusher) bool {
	if s.readErrLocked() != nil {
		return false
	}
	if s.recv.size == 0 {
		return s.readEndLocked() == nil // nothing to write, and no end to report yet
	}
	tw, ok := p.w.(tryBuffersWriter)
	if !ok || s.recv.size > maxTryPush {
		return false
	}
	b := pushBatches.Get().(*pushBatch)
	defer pushBatches.Put(b)
	for _, c := range s.recv.chunks {
		b.bufs = append(b.bufs, c.buf[c.r:c.w])
	}
	n, err := tw.TryWriteBuffers(b.bufs)
	b.reset()
	s.recv.drop(n)
	if n > 0 {
		s.consumedLocked(n)
	}
	// Whatever is left, a failure to report, or an end to deliver is the push
	// goroutine's.
	return err == nil && s.recv.size == 0 && s.readEndLocked() == nil
}

// pushAll writes what s holds to p's writer without holding s.mu, all of it in one
// call when the writer takes several buffers at once (a socket's writev: one system
// call where a write per chunk took one each), and returns when nothing is left; it
// calls done when s will deliver nothing more.
func (s *muxStream) pushAll(p *pusher) {
	b := pushBatches.Get().(*pushBatch)
	defer pushBatches.Put(b)
	s.mu.Lock()
	for {
		if err := s.readErrLocked(); err != nil {
			s.pushEndLocked(p, err)
			return
		}
		if s.recv.size == 0 {
			break
		}
		n := 0
		for s.recv.size > 0 && len(b.held) < maxPushChunks {
			c := s.recv.pop()
			b.bufs = append(b.bufs, c.buf[c.r:c.w])
			b.held = append(b.held, c.buf)
			n += c.w - c.r
		}
		s.consumedLocked(n)
		s.mu.Unlock()
		bufs := b.bufs // writeBuffers consumes the slice it is given, not b's
		_, err := writeBuffers(p.w, &bufs)
		for _, c := range b.held {
			s.recv.free(c)
		}
		b.reset()
		s.mu.Lock()
		if err != nil {
			s.pushEndLocked(p, err)
			return
		}
	}
	if err := s.readEndLocked(); err != nil {
		if err == io.EOF {
			err = nil
		}
		s.pushEndLocked(p, err)
		return
	}
	p.running = false
	s.mu.Unlock()
}

// maxPushChunks bounds one push write: 256 KiB, a stream's window before it grows.
const maxPushChunks = 16

// A buffersWriter writes several buffers in one call, as writev does. The relay's
// writers are, passing the buffers on to the socket under them.
type buffersWriter interface {
	WriteBuffers(bufs *net.Buffers) (int64, error)
}

// pushBatch is one push write: the chunks' bytes, and the chunks to free after.
// Batches are pooled, so an idle pushing stream holds none.
type pushBatch struct {
	bufs net.Buffers
	held []*[chunkSize]byte
}

var pushBatches = sync.Pool{New: func() any {
	return &pushBatch{bufs: make(net.Buffers, 0, maxPushChunks), held: make([]*[chunkSize]byte, 0, maxPushChunks)}
}}

// writeBuffers writes bufs to w in one call when w takes buffers; otherwise through
// net.Buffers, which uses writev itself when w is a socket and else writes them one
// by one.
func writeBuffers(w io.Writer, bufs *net.Buffers) (int64, error) {
	if bw, ok := w.(buffersWriter); ok {
		return bw.WriteBuffers(bufs)
	}
	return bufs.WriteTo(w)
}

func (b *pushBatch) reset() {
	clear(b.bufs[:cap(b.bufs)])
	clear(b.held)
	b.bufs, b.held = b.bufs[:0], b.held[:0]
}

// pushEndLocked stops s pushing and reports why, with s.mu released.
func (s *muxStream) pushEndLocked(p *pusher, err error) {
	s.push = nil
	s.mu.Unlock()
	p.done(err)
}
