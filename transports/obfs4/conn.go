package obfs4

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// conn makes the library's obfs4 conn a full net.Conn. The library refuses
// SetDeadline and SetWriteDeadline, has no CloseWrite, and keeps framing state that
// two concurrent Reads or Writes would corrupt; the TCP carrier under it does the
// deadlines and the half-close, and a lock per direction keeps the framing whole.
type conn struct {
	obfs net.Conn     // framing and encryption
	raw  *net.TCPConn // the carrier under obfs

	rmu sync.Mutex

	wmu  sync.Mutex
	werr error // a failed Write left the frame encoder ahead of the peer: no Write can follow
}

func newConn(obfs net.Conn, raw *net.TCPConn) *conn {
	return &conn{obfs: obfs, raw: raw}
}

func (c *conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.obfs.Read(p)
}

// Write reports 0 bytes on error: the library counts frames it built, not bytes the
// peer will see, and a half-sent frame is useless to the peer anyway.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	n, err := c.libraryWrite(p)
	if err != nil {
		c.werr = err
		return 0, err
	}
	return n, nil
}

// errLibraryPanic is a Write the reference library gave up on with a panic.
var errLibraryPanic = errors.New("obfs4: the reference library failed a write")

// libraryWrite is the library's Write, with its panics made the carrier's failure
// rather than the process's. In paranoid IAT mode (iat-mode=2) it samples each write's
// length from a distribution that includes 0, and panics on it ("BUG: Write(), iat
// length was 0"; reference obfs4 at c3e2d44b): about once in a few thousand frames
// here. Frames of the burst after the panic are lost and the encoder is ahead of the
// peer, so the carrier is closed; the session above resends on another. A gateway or
// an app must never die of one peer's carrier.
func (c *conn) libraryWrite(p []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.raw.Close()
			n, err = 0, fmt.Errorf("%w: %v", errLibraryPanic, r)
		}
	}()
	return c.obfs.Write(p)
}

// CloseWrite ends the sending side of the carrier. obfs4 has no close frame: the peer
// decodes every frame already sent, then reads io.EOF.
func (c *conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.raw.CloseWrite()
}

func (c *conn) Close() error                       { return c.obfs.Close() }
func (c *conn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *conn) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }
