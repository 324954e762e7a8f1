//go:build !linux

package decoy

import "net"

// queued cannot ask the kernel here; pending reads instead.
func queued(net.Conn) (int, bool) { return 0, false }
