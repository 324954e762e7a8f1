//go:build !linux

package tlskit

import (
	"net"
	"time"
)

// waitSent pauses a little where the kernel's send queue cannot be read, so that the
// next write most likely starts a new segment.
func waitSent(net.Conn) { time.Sleep(time.Millisecond) }
