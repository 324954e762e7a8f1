package dns

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports/internal/deadline"
)

// KCP gives a reliable ordered byte stream but no end to it: a KCP session cannot tell
// its peer it has finished. The carrier therefore frames the stream, as quic's does:
//
//	type [1] | length [2, big-endian] | payload
//
//	data  a piece of the byte stream
//	end   the sender has finished writing (CloseWrite); only ack may follow
//	ack   the sender has read the peer's end, so everything the peer sent arrived
//
// end and ack carry no payload. A side that closes sends end, then waits for the
// peer's ack and end before it drops the KCP session and its tunnel, or gives up after
// lingerTimeout.
const (
	frameData byte = 0
	frameEnd  byte = 1
	frameAck  byte = 2
)

const (
	frameHeader = 3
	// maxFrame is the longest data frame.
	maxFrame = 16 << 10
	// queueLimit bounds each direction's bytes between the caller and KCP: Write waits
	// when out holds this much, and the reader stops taking from KCP when in does, so
	// KCP's window closes on a peer that sends more than the caller reads.
	queueLimit = 64 << 10
	// lingerTimeout bounds how long a closed carrier waits for its peer to read what
	// it sent and to finish too, as nginx's lingering_timeout (5 s) does.
	lingerTimeout = 5 * time.Second
	// settleTime keeps the KCP session a moment after the last frame of a clean close,
	// as TCP's TIME-WAIT keeps a connection to acknowledge the peer's FIN again: KCP
	// has taken the frame but not yet delivered it, and resends it if it is lost.
	settleTime = time.Second
)

var (
	errWriteClosed = errors.New("write after CloseWrite")
	errBadFrame    = errors.New("malformed carrier frame")
)

// stream is a carrier: a framed byte stream over one KCP session, as a net.Conn. Two
// goroutines move bytes between it and KCP, whose own calls block without a way to
// interrupt them; the caller's Read and Write wait on the stream's queues instead, with
// deadlines of the stream's own.
type stream struct {
	sess net.Conn // the KCP session; closing it ends the tunnel too

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change of state

	in, out                          chunks
	greet                            bool  // an empty data frame goes first
	outEnd                           bool  // CloseWrite or Close: end goes after out
	sentEnd, sentAck, gotEnd, gotAck bool  // the framing's handshake of ends
	closed                           bool  // own Close
	finished                         bool  // the session is dropped
	err                              error // the tunnel failed

	readDL, writeDL deadline.Deadline
}

// newStream runs a carrier over sess. greet sends an empty data frame at once, so
// that the client's first packet reaches the gateway before it has anything to say.
func newStream(sess net.Conn, greet bool) *stream {
	s := &stream{sess: sess, changed: make(chan struct{}), greet: greet}
	go s.readLoop(bufio.NewReaderSize(sess, 4096))
	go s.writeLoop()
	return s
}

// notifyLocked wakes everyone waiting for a change.
func (s *stream) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitLocked waits, with mu unlocked, for a change of state or for dl to pass (nil:
// no deadline).
func (s *stream) waitLocked(dl *deadline.Deadline) {
	ch := s.changed
	var expired <-chan struct{}
	if dl != nil {
		expired = dl.Done()
	}
	s.mu.Unlock()
	select {
	case <-ch:
	case <-expired:
	}
	s.mu.Lock()
}

func (s *stream) LocalAddr() net.Addr  { return s.sess.LocalAddr() }
func (s *stream) RemoteAddr() net.Addr { return s.sess.RemoteAddr() }

func (s *stream) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.closed:
			return 0, net.ErrClosed
		case s.readDL.Passed():
			return 0, os.ErrDeadlineExceeded
		case s.in.len() > 0:
			n := s.in.pop(p)
			s.notifyLocked() // room for the reader goroutine
			return n, nil
		case s.gotEnd:
			return 0, io.EOF
		case s.err != nil:
			return 0, s.err
		case len(p) == 0:
			return 0, nil
		}
		s.waitLocked(&s.readDL)
	}
}

func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for {
		switch {
		case s.closed:
			return n, net.ErrClosed
		case s.outEnd:
			return n, errWriteClosed
		case s.err != nil:
			return n, s.err
		case s.writeDL.Passed():
			return n, os.ErrDeadlineExceeded
		case n == len(p):
			return n, nil
		}
		if room := queueLimit - s.out.len(); room > 0 {
			k := min(room, len(p)-n)
			s.out.push(p[n : n+k])
			n += k
			s.notifyLocked()
			continue
		}
		s.waitLocked(&s.writeDL)
	}
}

// CloseWrite sends an end frame after what was written: the peer reads io.EOF once it
// has read everything before it, and can still write.
func (s *stream) CloseWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	s.outEnd = true
	s.notifyLocked()
	return nil
}

// Close returns at once. What was written still reaches the peer: the goroutines send
// it and the end frame, discard what the peer still sends, and drop the KCP session
// once both sides have acknowledged each other's end, or after lingerTimeout.
func (s *stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed, s.outEnd = true, true
	s.in.reset()
	s.notifyLocked()
	time.AfterFunc(lingerTimeout, s.finish)
	return nil
}

// finish drops the KCP session, which ends both goroutines and the tunnel.
func (s *stream) finish() {
	if s.markFinished() {
		s.sess.Close()
	}
}

// settle drops the KCP session after settleTime: the close was clean, and the last
// frame is on its way.
func (s *stream) settle() {
	if s.markFinished() {
		time.AfterFunc(settleTime, func() { s.sess.Close() })
	}
}

// markFinished records that the session is to be dropped; true the first time.
func (s *stream) markFinished() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := !s.finished
	s.finished = true
	s.notifyLocked()
	return first
}

// finishedLocked reports whether nothing is left to deliver either way after Close.
func (s *stream) finishedLocked() bool {
	return s.closed && s.sentEnd && s.gotAck && s.gotEnd && s.sentAck
}

// fail records why the session ended, which nothing more can cross, and drops it.
// Read (once in is empty) and Write return err.
func (s *stream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		if !errors.Is(err, ErrTunnelLost) {
			err = fmt.Errorf("%w: %w", ErrTunnelLost, err)
		}
		s.err = err
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.finish()
}

func (s *stream) SetDeadline(t time.Time) error {
	s.readDL.Set(t)
	s.writeDL.Set(t)
	return nil
}

func (s *stream) SetReadDeadline(t time.Time) error  { s.readDL.Set(t); return nil }
func (s *stream) SetWriteDeadline(t time.Time) error { s.writeDL.Set(t); return nil }

// readLoop takes frames from KCP until the session ends.
func (s *stream) readLoop(r *bufio.Reader) {
	var h [frameHeader]byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			s.fail(err)
			return
		}
		typ, length := h[0], int(binary.BigEndian.Uint16(h[1:]))
		switch {
		case typ == frameData && length > maxFrame, typ != frameData && length != 0, typ > frameAck:
			s.fail(fmt.Errorf("%w: type %d, %d bytes", errBadFrame, typ, length))
			return
		}
		payload := make([]byte, length)
		if _, err := io.ReadFull(r, payload); err != nil {
			s.fail(err)
			return
		}
		s.deliver(typ, payload)
	}
}

// deliver acts on one frame from the peer.
func (s *stream) deliver(typ byte, payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch typ {
	case frameData:
		for !s.closed && !s.finished && s.in.len() >= queueLimit {
			s.waitLocked(nil)
		}
		if !s.closed && len(payload) > 0 {
			s.in.push(payload)
		}
	case frameEnd:
		s.gotEnd = true
	case frameAck:
		s.gotAck = true
	}
	s.notifyLocked()
	if s.finishedLocked() {
		s.mu.Unlock()
		s.settle()
		s.mu.Lock()
	}
}

// writeLoop frames what Write queued, then the end and ack frames, until the session
// ends.
func (s *stream) writeLoop() {
	for {
		typ, payload, ok := s.next()
		if !ok {
			return
		}
		b := make([]byte, frameHeader+len(payload))
		b[0] = typ
		binary.BigEndian.PutUint16(b[1:], uint16(len(payload)))
		copy(b[frameHeader:], payload)
		if _, err := s.sess.Write(b); err != nil {
			s.fail(err)
			return
		}
	}
}

// next waits for the next frame to send; ok is false once the session is dropped.
func (s *stream) next() (typ byte, payload []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.finished:
			return 0, nil, false
		case s.greet:
			s.greet = false
			return frameData, nil, true
		case s.out.len() > 0:
			payload = make([]byte, min(s.out.len(), maxFrame))
			s.out.pop(payload)
			s.notifyLocked() // room for Write
			return frameData, payload, true
		case s.outEnd && !s.sentEnd:
			s.sentEnd = true
			return frameEnd, nil, true
		case s.gotEnd && !s.sentAck:
			s.sentAck = true
			return frameAck, nil, true
		case s.finishedLocked():
			s.mu.Unlock()
			s.settle()
			s.mu.Lock()
			continue
		}
		s.waitLocked(nil)
	}
}

// chunks is a byte queue that frees what has been read.
type chunks struct {
	bufs [][]byte
	n    int
}

func (q *chunks) len() int { return q.n }

func (q *chunks) push(b []byte) {
	q.bufs = append(q.bufs, append([]byte(nil), b...))
	q.n += len(b)
}

func (q *chunks) pop(p []byte) int {
	n := 0
	for n < len(p) && len(q.bufs) > 0 {
		k := copy(p[n:], q.bufs[0])
		n += k
		if k == len(q.bufs[0]) {
			q.bufs[0] = nil
			q.bufs = q.bufs[1:]
		} else {
			q.bufs[0] = q.bufs[0][k:]
		}
	}
	q.n -= n
	return n
}

func (q *chunks) reset() { q.bufs, q.n = nil, 0 }
