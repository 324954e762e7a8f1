package decoy

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// queued returns how many bytes the kernel holds unread on the socket under conn
// (through wrappers that name it, as tls.Conn's NetConn does), and false when there
// is no socket to ask.
func queued(conn net.Conn) (int, bool) {
	for {
		inner, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = inner.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	n, ierr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil || ierr != nil {
		return 0, false
	}
	return n, true
}
