//go:build unix

package relay

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// copySocket copies src to dst if src is a TCP or Unix socket, reading it in place of
// its own Read: a buffer is taken from the pool for each read the poller lets through
// and returned before waiting again, so the goroutine waits on an idle socket without
// one. It reports false, having done nothing, for anything else: only these exact
// types, since a type that embeds one may have read ahead of the socket.
func copySocket(dst io.Writer, src net.Conn) (bool, error) {
	rc, ok := rawSocket(src)
	if !ok {
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

// tryWritev writes what w's socket takes of bufs in one writev, without waiting for
// room: it returns how much went (0 when the socket is full). w must be a TCP or
// Unix socket itself, errors.ErrUnsupported otherwise.
func tryWritev(w io.Writer, bufs [][]byte) (int, error) {
	rc, ok := rawSocket(w)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	var (
		n    int
		werr error
	)
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Writev(int(fd), bufs)
			if werr != syscall.EINTR {
				break
			}
		}
		return true // done either way: a full socket is the caller's to wait on
	})
	if err != nil { // closed, or its write deadline passed
		return 0, err
	}
	if errors.Is(werr, syscall.EAGAIN) {
		return 0, nil
	}
	if werr != nil {
		c := w.(net.Conn)
		return max(n, 0), &net.OpError{Op: "write", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("writev", werr)}
	}
	return n, nil
}

// rawSocket returns x's file descriptor access if x is a TCP or Unix socket itself;
// not a type that embeds one, which may keep bytes of its own in front of it.
func rawSocket(x any) (syscall.RawConn, bool) {
	var sc syscall.Conn
	switch c := x.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil, false
	}
	rc, err := sc.SyscallConn()
	return rc, err == nil
}
