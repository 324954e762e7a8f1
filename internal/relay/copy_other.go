//go:build !unix

package relay

import (
	"io"
	"net"
)

// copySocket does nothing where sockets cannot be read in place: src is then read
// as any conn is.
func copySocket(io.Writer, net.Conn) (bool, error) { return false, nil }
