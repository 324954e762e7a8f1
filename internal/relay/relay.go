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

// A Pusher writes what it receives to w from goroutines of its own that run only
// while there is something to write, until EOF (then done(nil)) or a failure
// (done(err)); done is called once. A session stream is one: relaying from it holds
// no goroutine while it is idle.
type Pusher interface {
	PushTo(w io.Writer, done func(error))
}

// Splice copies a→b and b→a until both directions end, propagating half-close, then
// closes both. aToB and bToA (nil allowed) count the bytes of each direction.
//
// It costs an idle pair as little as Go allows: the calling goroutine copies one
// direction, and holds no buffer while its source is a socket with nothing to read;
// the other direction is pushed when its source is a Pusher, and only otherwise has
// a goroutine of its own.
func Splice(a, b net.Conn, aToB, bToA Counter) {
	here, there := direction{dst: a, src: b, count: bToA}, direction{dst: b, src: a, count: aToB}
	if _, ok := b.(Pusher); ok {
		here, there = there, here
	}
	var wg sync.WaitGroup
	wg.Add(1)
	there.start(wg.Done)
	here.end(copyConn(here.writer(), here.src))
	wg.Wait()
	a.Close()
	b.Close()
}

// direction is one way of a splice.
type direction struct {
	dst, src net.Conn
	count    Counter
}

func (d direction) writer() io.Writer {
	if d.count == nil {
		return d.dst
	}
	return countingWriter{d.dst, d.count}
}

// start copies d in the background, pushed if its source can, and calls finished
// when d has ended.
func (d direction) start(finished func()) {
	if p, ok := d.src.(Pusher); ok {
		p.PushTo(d.writer(), func(err error) {
			d.end(err)
			finished()
		})
		return
	}
	go func() {
		d.end(copyConn(d.writer(), d.src))
		finished()
	}()
}

type closeWriter interface{ CloseWrite() error }

// end finishes d after its copy returned err: at EOF it half-closes the destination,
// or closes it when it cannot; after a failure it closes both ends.
func (d direction) end(err error) {
	if err != nil && !errors.Is(err, net.ErrClosed) {
		// A reset on one side ends the other too; a half-open pair would hang.
		d.src.Close()
		d.dst.Close()
		return
	}
	if cw, ok := d.dst.(closeWriter); ok {
		cw.CloseWrite()
		return
	}
	d.dst.Close()
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

// TryWriteBuffers writes what the destination socket takes of bufs at once, without
// waiting: a session stream's reader writes a message this way instead of starting a
// goroutine for it. errors.ErrUnsupported when the destination is not a socket.
func (c countingWriter) TryWriteBuffers(bufs [][]byte) (int, error) {
	n, err := tryWritev(c.w, bufs)
	c.count.Add(float64(n))
	return n, err
}

// WriteBuffers writes bufs with one writev when the destination is a socket: a
// session stream pushes what it holds this way.
func (c countingWriter) WriteBuffers(bufs *net.Buffers) (int64, error) {
	n, err := bufs.WriteTo(c.w)
	c.count.Add(float64(n))
	return n, err
}
