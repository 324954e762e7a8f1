//go:build !unix

package relay

import (
	"errors"
	"io"
	"net"
)

// copySocket does nothing where sockets cannot be read in place: src is then read
// as any conn is.
func copySocket(io.Writer, net.Conn) (bool, error) { return false, nil }

// tryWritev cannot write without waiting here: the push goroutine writes instead.
func tryWritev(io.Writer, [][]byte) (int, error) { return 0, errors.ErrUnsupported }
