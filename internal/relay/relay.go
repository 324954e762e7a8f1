// Package relay joins two connections byte for byte, both ways, with half-close.
// The gateway uses it between a session stream and a backend; the client's local
// proxies between an app and a session stream.
package relay

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Counter receives byte counts (a prometheus.Counter is one).
type Counter interface{ Add(float64) }

// Splice copies a→b and b→a until both directions end, propagating half-close, then
// closes both. aToB and bToA (nil allowed) count the bytes of each direction.
func Splice(a, b net.Conn, aToB, bToA Counter) {
	var wg sync.WaitGroup
	wg.Go(func() { pipe(b, a, aToB) })
	wg.Go(func() { pipe(a, b, bToA) })
	wg.Wait()
	a.Close()
	b.Close()
}

type closeWriter interface{ CloseWrite() error }

// pipe copies src to dst, then half-closes dst, or closes it when it cannot.
func pipe(dst, src net.Conn, count Counter) {
	var w io.Writer = dst
	if count != nil {
		w = countingWriter{dst, count}
	}
	_, err := io.Copy(w, src)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		// A reset on one side ends the other too; a half-open pair would hang.
		src.Close()
		dst.Close()
		return
	}
	if cw, ok := dst.(closeWriter); ok {
		cw.CloseWrite()
		return
	}
	dst.Close()
}

type countingWriter struct {
	w     io.Writer
	count Counter
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.count.Add(float64(n))
	return n, err
}
