//go:build !linux

package dns

import "net"

// quickAck returns c: only Linux's delayed ACKs need the work-around.
func quickAck(c *net.TCPConn) net.Conn { return c }
