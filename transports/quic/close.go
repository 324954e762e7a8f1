package quic

import (
	"net"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// Closing a carrier: a QUIC connection has no graceful close (closing it drops what
// is still in flight), so the carrier's end and ack frames tell each side when the
// other has read everything it sent, and only then is the connection closed.

// lingerTimeout bounds how long a closed carrier waits for its peer to read what it
// sent and to finish too, as nginx's lingering_timeout (5 s) bounds a closing
// connection. Then the QUIC connection is closed whatever the peer still has.
const lingerTimeout = 5 * time.Second

func (c *conn) sendAck() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.flushAck() // on error, Write or the linger goroutine tries again
}

// flushAck sends the ack owed for the peer's end. An accepted carrier that has not
// spoken yet holds it back: an HTTP/3 server answers nothing before a request, and a
// prober that sends an end frame must not get a frame back. It holds wmu.
func (c *conn) flushAck() error {
	c.mu.Lock()
	due := c.gotEnd && !c.sentAck && !c.handedOff && (!c.server || c.spoke)
	c.mu.Unlock()
	if !due {
		return nil
	}
	return c.writeControl(frameAck)
}

// CloseWrite sends an end frame: the peer reads io.EOF once it has read everything
// before it, and can still write.
func (c *conn) CloseWrite() error {
	if c.isClosed() {
		return net.ErrClosed
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.state(func() bool { return c.sentEnd }) {
		return nil
	}
	return c.ioError(c.writeControl(frameEnd))
}

// Close returns at once. What was written still reaches the peer: a goroutine sends
// the end frame, reads and discards what the peer still sends, and closes the QUIC
// connection once both sides have acknowledged each other's end.
func (c *conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.handedOff {
		c.closed = true
		return nil
	}
	c.closed = true
	// Wake a blocked Read or Write of the caller's; the deadlines are set under mu so
	// that a concurrent Set*Deadline cannot undo them.
	c.s.SetReadDeadline(aLongTimeAgo)
	c.s.SetWriteDeadline(aLongTimeAgo)
	go c.linger()
	return nil
}

// linger finishes a closed carrier: end frame, the ack owed, then reads until the
// peer's end and ack came or lingerTimeout passed.
func (c *conn) linger() {
	deadline := time.Now().Add(lingerTimeout)
	c.wmu.Lock()
	c.s.SetWriteDeadline(deadline)
	var err error
	switch {
	case c.server && !c.spoke:
		// The gateway turned the peer away without a word: an HTTP/3 server cancels
		// such a request rather than ending it cleanly.
		err = errCutFrame
	case !c.state(func() bool { return c.sentEnd }):
		err = c.writeControl(frameEnd)
	}
	if err == nil {
		err = c.flushAck()
	}
	c.wmu.Unlock()
	if err != nil {
		c.finish(codeCancelled)
		return
	}

	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.s.SetReadDeadline(deadline)
	for !c.state(func() bool { return c.finished }) {
		if c.left > 0 {
			n, err := c.s.Read(c.junk[:min(len(c.junk), c.left)])
			c.left -= n
			if err != nil {
				break
			}
			continue
		}
		h, err := c.nextHeader()
		if err != nil {
			break
		}
		c.handle(h)
	}
	c.finish(codeCancelled) // nothing if the handshake of ends finished it cleanly
}

// maybeFinish closes the QUIC connection once nothing is left to deliver either way.
func (c *conn) maybeFinish() {
	if c.state(func() bool { return c.sentEnd && c.sentAck && c.gotAck }) {
		c.finish(codeNoError)
	}
}

func (c *conn) finish(code quicgo.ApplicationErrorCode) {
	c.finishOnce.Do(func() {
		c.mu.Lock()
		c.finished = true
		c.mu.Unlock()
		c.qc.CloseWithError(code, "")
	})
}
