package relay

import (
	"io"
	"net"
	"sync"
)

// bufSize is io.Copy's buffer size: one read moves up to this much.
const bufSize = 64 << 10

// bufPool holds copy buffers, which a copy takes only while its source has data: a
// relay between idle sockets holds none.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, bufSize)
	return &b
}}

// copyConn copies src to dst until EOF (returning nil, as io.Copy does) or an error.
// A socket is read with a buffer taken only once the poller says it is readable;
// anything else through a pooled buffer held while it waits.
func copyConn(dst io.Writer, src net.Conn) error {
	if ok, err := copySocket(dst, src); ok {
		return err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	// readerOnly hides src's WriteTo, which would copy through a buffer of its own.
	_, err := io.CopyBuffer(dst, readerOnly{src}, *bp)
	return err
}

type readerOnly struct{ io.Reader }
