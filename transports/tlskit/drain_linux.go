package tlskit

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// drainReceived reads and drops what the kernel has already received on c, without
// waiting for more, so that closing c sends a FIN: Linux answers a close with unread
// data by a RST. Chromium, which reads the server's whole flight before it refuses a
// certificate, closes with a FIN (see BrowserAlert); utls stops reading at the
// certificate, leaving the server's CertificateVerify and Finished unread.
func drainReceived(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 16<<10)
	rc.Read(func(fd uintptr) bool {
		for {
			n, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			if n <= 0 || err != nil {
				return true
			}
		}
	})
}
