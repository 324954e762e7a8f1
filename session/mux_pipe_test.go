package session

import (
	"errors"
	"io"
	"sync"
	"testing"
)

// memPipe is one direction of an in-memory frameConn: bytes appended by one end,
// read by the other, with room while fewer than limit are unread. It stands in for
// the link, whose room frees as the peer reads and acknowledges.
type memPipe struct {
	mu       sync.Mutex
	buf      []byte
	limit    int
	err      error // set by close: reads fail once the buffer is drained
	readable signal
	room     signal
	frames   []muxHeader // every frame appended, when record is set
	record   bool
}

func (p *memPipe) close(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
	p.readable.notify()
	p.room.notify()
}

type memEnd struct{ in, out *memPipe }

func (e memEnd) Read(b []byte) (int, error) {
	p := e.in
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		wait := p.readable.wait()
		p.mu.Unlock()
		<-wait
		p.mu.Lock()
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	p.room.notify()
	return n, nil
}

func (e memEnd) waitRoom(need int, cancel <-chan struct{}) (int, error) {
	p := e.out
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.err == nil && p.limit-len(p.buf) < need {
		room := p.room.wait()
		p.mu.Unlock()
		select {
		case <-room:
		case <-cancel:
			p.mu.Lock()
			return 0, errWaitCancelled
		}
		p.mu.Lock()
	}
	return p.limit - len(p.buf), p.err
}

func (e memEnd) appendData(v ...[]byte) error { return e.appendFrame(v...) }

func (e memEnd) writeInline() {}

func (e memEnd) appendFrame(v ...[]byte) error {
	p := e.out
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	n := len(p.buf)
	for _, b := range v {
		p.buf = append(p.buf, b...)
	}
	if len(p.buf) > 2*p.limit {
		p.buf = p.buf[:n]
		return errSendBufferFull
	}
	if p.record {
		var hdr [muxHeaderSize]byte
		copy(hdr[:], p.buf[n:])
		h, _ := parseMuxHeader(&hdr)
		p.frames = append(p.frames, h)
	}
	p.readable.notify()
	return nil
}

// muxPair is a client and a gateway mux over memory pipes of limit bytes each way;
// fatal collects what either reports as a violation.
type muxPair struct {
	client, server *mux
	up, down       *memPipe // client → gateway, gateway → client
	fatal          chan error
}

func newMuxPair(t *testing.T, limit int) *muxPair {
	t.Helper()
	return newLimitedMuxPair(t, limit, muxLimits{})
}

// newLimitedMuxPair is newMuxPair with the gateway's limits.
func newLimitedMuxPair(t *testing.T, limit int, lim muxLimits) *muxPair {
	t.Helper()
	p := &muxPair{up: &memPipe{limit: limit}, down: &memPipe{limit: limit}, fatal: make(chan error, 2)}
	onFatal := func(err error) { p.fatal <- err }
	p.client = newMux(memEnd{in: p.down, out: p.up}, false, onFatal, muxLimits{})
	p.server = newMux(memEnd{in: p.up, out: p.down}, true, onFatal, lim)
	t.Cleanup(func() { p.close(ErrClosed) })
	return p
}

func (p *muxPair) close(err error) {
	p.client.close(err)
	p.server.close(err)
	p.up.close(err)
	p.down.close(err)
}

// readAll reads r to EOF or error in the background.
func readAll(r io.Reader) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	return got
}

func isReset(err error) bool { return errors.Is(err, errStreamReset) }
