package obfs4

import (
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
	n, err := c.obfs.Write(p)
	if err != nil {
		c.werr = err
		return 0, err
	}
	return n, nil
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
