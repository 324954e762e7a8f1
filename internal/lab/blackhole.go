package lab

import (
	"net"
	"sync/atomic"
)

// Blackhole is a carrier an adversary freezes: from Freeze on, its reads discard what
// arrives, so the session above it hears nothing more from the gateway and
// acknowledges nothing, while the gateway sends on and its sends still go out.
type Blackhole struct {
	net.Conn
	frozen atomic.Bool
}

// Freeze starts discarding what arrives.
func (c *Blackhole) Freeze() { c.frozen.Store(true) }

func (c *Blackhole) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if err != nil || !c.frozen.Load() {
			return n, err
		}
	}
}
