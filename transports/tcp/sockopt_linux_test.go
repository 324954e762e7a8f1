package tcp_test

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// TestConnsHaveNoDelayAndKeepalive reads the socket options back from the kernel on
// both ends: Nagle would hold the session's small records back, and without keepalive
// a vanished peer holds an idle carrier open.
func TestConnsHaveNoDelayAndKeepalive(t *testing.T) {
	tr := tcp.New()
	ln, err := tr.Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	d, err := tr.NewDialer(ln.Addr().String(), nil)
	if err != nil {
		t.Fatalf("NewDialer: %v", err)
	}
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		accepted <- result{c, err}
	}()
	client, err := d.Dial(context.Background())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer client.Close()
	r := <-accepted
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	defer r.c.Close()

	for side, c := range map[string]net.Conn{"dialed": client, "accepted": r.c} {
		for _, opt := range []struct {
			name         string
			level, which int
		}{
			{"TCP_NODELAY", syscall.IPPROTO_TCP, syscall.TCP_NODELAY},
			{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE},
		} {
			v, err := sockopt(c, opt.level, opt.which)
			if err != nil {
				t.Fatalf("%s conn: reading %s: %v", side, opt.name, err)
			}
			if v == 0 {
				t.Errorf("%s conn: %s is off, want on", side, opt.name)
			}
		}
	}
}

func sockopt(c net.Conn, level, opt int) (int, error) {
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var serr error
	if err := raw.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil {
		return 0, err
	}
	return v, serr
}
