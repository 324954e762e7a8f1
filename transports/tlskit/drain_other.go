//go:build !linux

package tlskit

import "net"

// drainReceived does nothing where it is not written: closing may then send a RST
// where Chromium sends a FIN.
func drainReceived(net.Conn) {}
