package tlskit

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// waitSent waits, briefly, until the kernel has put every byte written to c on the wire
// (TCP_INFO's notsent_bytes is zero), so the next write starts a new segment. It gives up
// after a bound: a segment that cannot leave soon is not worth stalling the handshake.
func waitSent(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		pending := true
		rc.Control(func(fd uintptr) {
			info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
			pending = err == nil && info.Notsent_bytes > 0
		})
		if !pending {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}
