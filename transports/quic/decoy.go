package quic

import (
	"io"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// decoyConn is an accepted carrier whose stream becomes an HTTP/3 request stream when
// the gateway turns its peer away.
type decoyConn struct {
	*conn
	h3 *http3.RawServerConn
}

// Reject hands the stream to HTTP/3 where the gateway stopped reading. What the
// gateway read (prefix) was payload of reserved frames, which an HTTP/3 server skips
// unread (RFC 9114 section 9); so Reject skips the rest of the frame it was in, and
// HTTP/3 reads on from the next frame header exactly as a real server would have: a
// prober that sends a request after the frames gets the site, and one that sends
// nothing waits as on any web server.
func (c *decoyConn) Reject(prefix []byte) {
	c.mu.Lock()
	if c.closed || c.handedOff {
		c.mu.Unlock()
		return
	}
	c.handedOff = true
	c.mu.Unlock()
	// A server carrier has written nothing (the gateway answers nothing it rejects),
	// so no frame of ours is on the stream; wmu waits out a Write in progress.
	c.wmu.Lock()
	c.s.SetWriteDeadline(time.Time{})
	c.wmu.Unlock()

	c.rmu.Lock()
	c.s.SetReadDeadline(time.Time{})
	err := c.skipFrame()
	c.rmu.Unlock()
	if err != nil {
		c.s.CancelRead(codeRequestRejected)
		c.s.CancelWrite(codeRequestRejected)
		return
	}
	c.h3.HandleRequestStream(c.s)
}

// skipFrame consumes the rest of the frame the gateway was reading. It holds rmu.
func (c *conn) skipFrame() error {
	if c.skip > 0 {
		if _, err := c.nextHeader(); err != nil {
			return err
		}
		if c.hdr.typ == frameData {
			c.left = int(c.hdr.length)
		}
	}
	_, err := io.CopyN(io.Discard, c.s, int64(c.left))
	c.left = 0
	return err
}
