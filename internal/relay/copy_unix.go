//go:build unix

package relay

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// copySocket copies src to dst if src is a TCP or Unix socket, reading it in place of
// its own Read: a buffer is taken from the pool for each read the poller lets through
// and returned before waiting again, so the goroutine waits on an idle socket without
// one. It reports false, having done nothing, for anything else: only these exact
// types, since a type that embeds one may have read ahead of the socket.
func copySocket(dst io.Writer, src net.Conn) (bool, error) {
	var sc syscall.Conn
	switch c := src.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, nil
	}
	for {
		var (
			bp   *[]byte
			n    int
			rerr error
		)
		err := rc.Read(func(fd uintptr) bool {
			bp = bufPool.Get().(*[]byte)
			for {
				n, rerr = syscall.Read(int(fd), *bp)
				if rerr != syscall.EINTR {
					break
				}
			}
			if errors.Is(rerr, syscall.EAGAIN) {
				bufPool.Put(bp)
				return false // nothing yet: wait for the poller
			}
			return true
		})
		if err != nil { // closed, or its deadline passed, while waiting
			return true, err
		}
		if rerr != nil {
			bufPool.Put(bp)
			return true, &net.OpError{Op: "read", Net: src.LocalAddr().Network(), Source: src.LocalAddr(), Addr: src.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
		}
		if n == 0 {
			bufPool.Put(bp)
			return true, nil // EOF
		}
		_, werr := dst.Write((*bp)[:n])
		bufPool.Put(bp)
		if werr != nil {
			return true, werr
		}
	}
}
