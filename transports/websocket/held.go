package websocket

import (
	"net"
	"sync"
)

// maxFrameHeader is the largest WebSocket frame header: 2 bytes, 8 of extended
// length and a 4-byte mask key (RFC 6455, section 5.2).
const maxFrameHeader = 14

// heldBufs are the buffers of messages being written, taken only while one is.
var heldBufs = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize+maxFrameHeader); return &b }}

// heldWrites is the client's carrier under coder/websocket, gathering what one of our
// messages writes into one write of the TLS conn. coder's client masks each frame
// through its own 4 KiB bufio.Writer, so every 4 KiB upstream was a TLS record and a
// system call of its own: 17,488 writes of 4,118 bytes in 2 s of the echo bench.
// Writes made while no message is held (the request, coder's pongs and close frames)
// go straight through, so none of them waits on us.
type heldWrites struct {
	net.Conn
	mu  sync.Mutex
	buf *[]byte // non-nil while a message is held
}

// hold gathers writes until release.
func (h *heldWrites) hold() {
	h.mu.Lock()
	h.buf = heldBufs.Get().(*[]byte)
	h.mu.Unlock()
}

// release writes what was gathered, and lets later writes through.
func (h *heldWrites) release() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.flushLocked()
	heldBufs.Put(h.buf)
	h.buf = nil
	return err
}

func (h *heldWrites) flushLocked() error {
	b := *h.buf
	*h.buf = b[:0]
	if len(b) == 0 {
		return nil
	}
	_, err := h.Conn.Write(b)
	return err
}

func (h *heldWrites) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.buf == nil {
		return h.Conn.Write(p)
	}
	if len(*h.buf)+len(p) > cap(*h.buf) {
		if err := h.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(*h.buf) {
			return h.Conn.Write(p)
		}
	}
	*h.buf = append(*h.buf, p...)
	return len(p), nil
}
