package backend

import (
	"context"
	"net"
)

// Source sends zeros on each connection, from the first byte it receives until the
// connection fails. A hoarding client points its streams at it to make the gateway
// hold data for it: what the client does not acknowledge stays in the gateway.
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
