package session

import "io"

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
// a push goroutine if none runs.
func (s *muxStream) readableLocked() {
	s.readable.notify()
	if p := s.push; p != nil && !p.running {
		p.running = true
		go s.pushAll(p)
	}
}

// pushAll writes what s holds to p's writer, one chunk at a time without holding
// s.mu, and returns when nothing is left; it calls done when s will deliver nothing
// more.
func (s *muxStream) pushAll(p *pusher) {
	s.mu.Lock()
	for {
		if err := s.readErrLocked(); err != nil {
			s.pushEndLocked(p, err)
			return
		}
		if s.recv.size == 0 {
			break
		}
		c := s.recv.pop()
		s.consumedLocked(c.w - c.r)
		s.mu.Unlock()
		_, err := p.w.Write(c.buf[c.r:c.w])
		s.recv.free(c.buf)
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

// pushEndLocked stops s pushing and reports why, with s.mu released.
func (s *muxStream) pushEndLocked(p *pusher, err error) {
	s.push = nil
	s.mu.Unlock()
	p.done(err)
}
