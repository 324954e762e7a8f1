package transporttest

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stalledListener returns a loopback address where TCP connects hang: a socket
// listening with a backlog of 0 whose one queue slot is already taken. Linux drops a
// SYN when the accept queue is full (tcp_conn_request), so the dialer keeps
// retransmitting it, as it would towards a censor that drops SYNs.
func stalledListener(t *testing.T) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("stalled listener: socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("stalled listener: bind 127.0.0.1:0: %v", err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatalf("stalled listener: listen: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("stalled listener: getsockname: %v", err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}).String()

	filler, err := net.DialTimeout("tcp", addr, hangTimeout)
	if err != nil {
		t.Fatalf("stalled listener: filling its queue: %v", err)
	}
	t.Cleanup(func() { filler.Close() })
	// connect returns before the kernel may have queued the filler (its final ACK is
	// still in flight); for a listener, TCP_INFO's unacked field is the queue length.
	for deadline := time.Now().Add(hangTimeout); ; time.Sleep(time.Millisecond) {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Fatalf("stalled listener: TCP_INFO: %v", err)
		}
		if info.Unacked >= 1 {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("stalled listener: its accept queue is still empty after %v", hangTimeout)
		}
	}
}
