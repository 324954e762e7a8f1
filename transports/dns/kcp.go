package dns

import (
	"encoding/binary"
	"net"

	kcp "github.com/xtaci/kcp-go/v5"
)

// KCP settings. The tunnel is KCP over a packet conn that is really DNS, as dnstt
// runs it: no FEC and no KCP encryption (the session layer above encrypts), stream
// mode so small writes share segments, KCP's normal retransmission timer (100 ms at
// least) and no fast retransmission, since a resolver answers queries out of order
// and KCP would take that for loss.
//
// Neither side uses KCP's congestion window, which starts from one segment and falls
// back to one at each retransmission timeout: at a 100 ms round trip it held uploads
// to 4 KiB/s. The client's send window follows instead the queries it may have in
// flight (the tunnel's limit), so KCP's packets do not wait for places in a queue
// after KCP counts them as sent: with a full window of 256 they outlived their
// retransmission timers there (measured: 2.5 times the data sent upstream, 32
// tunnels through unbound). The server sends only in answers to the client's
// queries, which pace it.
const (
	// kcpInterval is KCP's flush interval, in milliseconds: the delay before an ACK
	// that is not sent at once.
	kcpInterval = 10
	// kcpWindow is both sides' receive window and the server's send window, in
	// segments: 256 of the server's 900-byte segments are 230 KB in flight, 2.3 MB/s
	// at a 100 ms RTT, beyond what DNS carries. The client's send window is its
	// tunnel's limit (see followLimit).
	kcpWindow = 256
	// serverMTU is the server's KCP packet size: what one TXT answer to a query with
	// the longest name still carries within ednsSize (see TestServerMTUFits).
	serverMTU = 900
)

// newSession runs KCP conversation conv over pc with packets of at most mtu bytes; the
// session owns pc and closes it. server sessions send their ACKs at once, so that the
// query holding them goes back without waiting for the next flush.
func newSession(conv uint32, remote net.Addr, pc net.PacketConn, mtu int, server bool) (net.Conn, error) {
	s, err := kcp.NewConn4(conv, remote, nil, 0, 0, true, pc)
	if err != nil {
		return nil, err
	}
	//lint:ignore SA1019 stream mode packs small writes into one segment, which a query's 100-odd bytes need; kcp-go deprecates the toggle (its default is off), not the mode
	s.SetStreamMode(true)
	s.SetNoDelay(0, kcpInterval, 0, 1)
	s.SetWindowSize(kcpWindow, kcpWindow)
	s.SetMtu(mtu)
	s.SetACKNoDelay(server)
	return s, nil
}

// KCP segment header fields (kcp-go's encoding, little-endian), read by the server
// to tell a new conversation's first segment.
const (
	kcpOverhead = 24
	kcpCmdPush  = 81
	kcpSNOffset = 12
)

// kcpLenOffset is where a segment's header says how much data follows it.
const kcpLenOffset = 20

// carriesData reports whether packet holds a data segment, not only ACKs and window
// probes: data from the gateway means more may follow, and earns a poll.
func carriesData(packet []byte) bool {
	for len(packet) >= kcpOverhead {
		if packet[4] == kcpCmdPush {
			return true
		}
		n := int(binary.LittleEndian.Uint32(packet[kcpLenOffset:]))
		if n < 0 || n > len(packet)-kcpOverhead {
			return false
		}
		packet = packet[kcpOverhead+n:]
	}
	return false
}

// opensConversation reports whether packet is the first data segment of a KCP
// conversation, and its conversation number: only such a packet makes the server
// start a tunnel, so stray packets of a conversation it already dropped do not.
func opensConversation(packet []byte) (conv uint32, ok bool) {
	if len(packet) < kcpOverhead || packet[4] != kcpCmdPush {
		return 0, false
	}
	if binary.LittleEndian.Uint32(packet[kcpSNOffset:]) != 0 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(packet), true
}
