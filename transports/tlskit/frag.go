package tlskit

import (
	mrand "math/rand/v2"
	"net"
)

// Random fragment sizes for frag=1: small enough that the server name of any hello
// lands across segments, large enough that a 2 KB post-quantum hello needs only a
// dozen or so segments (each waits for the previous one to leave the host).
const (
	fragRandomMin = 64
	fragRandomMax = 256
)

// fragConn cuts the first write, the ClientHello, into separate TCP segments, for
// censors that inspect single segments without reassembling the stream. Later writes
// pass straight through. utls serialises its writes, so no lock is needed.
type fragConn struct {
	net.Conn
	size int // 1 means random sizes
	done bool
}

func (c *fragConn) Write(p []byte) (int, error) {
	if c.done {
		return c.Conn.Write(p)
	}
	c.done = true
	written := 0
	for len(p) > 0 {
		n := min(c.nextSize(), len(p))
		m, err := c.Conn.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
		if len(p) > 0 {
			// Go sets TCP_NODELAY, but bytes still queued in the kernel (when the
			// congestion window is full) would merge with the next write.
			waitSent(c.Conn)
		}
	}
	return written, nil
}

func (c *fragConn) nextSize() int {
	if c.size == 1 {
		return fragRandomMin + mrand.IntN(fragRandomMax-fragRandomMin+1)
	}
	return c.size
}
