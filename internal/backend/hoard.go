package backend

import (
	"context"
	"net"
	"syscall"
)

// The services a hoarding client points its streams at, to make the gateway buffer for
// it: Stall reads nothing, so what the client sends piles up in the gateway (a backend
// that is slow, or answers only once its peer reads, does the same); Source sends
// without end, so the gateway has data for a client that does not acknowledge it.

// stallReceiveBuffer is SO_RCVBUF for Stall's connections, the smallest Linux takes
// (it doubles it, and raises it to 2304): the kernel then holds a few KiB of what the
// gateway sends, and the rest stays in the gateway.
const stallReceiveBuffer = 1

// ListenStall listens on addr for Stall; its connections inherit the small receive
// buffer from the listener.
func ListenStall(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, stallReceiveBuffer)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	return lc.Listen(ctx, "tcp", addr)
}

// Stall holds the connections it accepts, reading nothing, until ctx is done.
type Stall struct{}

// Serve stalls the connections ln (from ListenStall) accepts until ctx is done or ln
// closes.
func (Stall) Serve(ctx context.Context, ln net.Listener) error {
	return serve(ctx, ln, func(net.Conn) { <-ctx.Done() })
}

// Source sends zeros on each connection, from the first byte it receives until the
// connection fails.
type Source struct{}

// Serve sources on the connections ln accepts until ctx is done or ln closes.
func (Source) Serve(ctx context.Context, ln net.Listener) error {
	return serve(ctx, ln, func(c net.Conn) {
		defer c.Close()
		if _, err := c.Read(make([]byte, 1)); err != nil {
			return
		}
		buf := make([]byte, 16<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
}
