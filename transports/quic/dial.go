package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/umbrella-edge/edge/transports"
)

// ErrHandshake is wrapped when the QUIC handshake did not complete: the server did
// not answer within the handshake timeout (a censor dropping QUIC looks like this),
// refused the TLS handshake, or the dial's context ended.
var ErrHandshake = errors.New("QUIC handshake failed")

// Connection settings shared by both sides.
const (
	// chromeInitialSize is the UDP payload Chrome pads its Initial datagrams to, and
	// the size of its later packets until path MTU discovery raises it
	// (kDefaultMaxPacketSize in Chromium's quiche). quic-go's own default is 1280.
	chromeInitialSize = 1250
	// idleTimeout closes a QUIC connection that heard nothing for this long: Chrome's
	// default idle timeout.
	idleTimeout = 30 * time.Second
	// keepAlive keeps an idle carrier's NAT mappings (often 30 s for UDP) and the
	// idle timeout from expiring; the client sends the PINGs, and only when nothing
	// arrived for that long, so the session's foreground pings (every 5 s) leave
	// none to send. quic-go sends them at most every half of idleTimeout, which this
	// is: a background session (pings every 60 s) costs a QUIC PING every 15 s, the
	// price of Chrome's 30 s idle timeout, which a censor can read in the handshake.
	keepAlive = idleTimeout / 2
)

// Handshake timeouts, scaled to the path's round-trip time, so that where a censor
// drops QUIC (udp-block, Russia's 2022 rule, China's QUIC SNI filter) the client
// learns it in a second or two and moves on. The timeout is quic-go's
// HandshakeIdleTimeout: the dial fails when no packet came back for that long.
const (
	// handshakeUnknownRTT is used until a handshake on this dialer has completed.
	handshakeUnknownRTT = 3 * time.Second
	// handshakeRTTs: a handshake takes one round trip, and each lost Initial costs a
	// retransmission timeout of about three (RFC 9002 section 6.2); ten allow two.
	handshakeRTTs = 10
	// handshakeMin: quic-go starts every connection from a 100 ms RTT estimate
	// whatever the path, so its first retransmission comes after ~300 ms even on
	// loopback; one second leaves room for two.
	handshakeMin = time.Second
	// handshakeMax is quic-go's default HandshakeIdleTimeout.
	handshakeMax = 5 * time.Second
)

// A Dialer opens carriers to one QUIC server, each over its own UDP socket (a new
// source port per carrier, as browsers use). It remembers the round-trip time of its
// last handshake and scales the next handshake's timeout to it. Set the exported
// fields before the first Dial; a Dialer is safe for concurrent use.
type Dialer struct {
	// Addr is the server's host:port.
	Addr string
	// TLS is the client's TLS configuration; NextProtos should be {"h3"}.
	TLS *tls.Config
	// Wrap, if set, wraps each carrier's UDP socket: quicobfs masks datagrams there.
	// ctx is the Dial's.
	Wrap func(ctx context.Context, pc net.PacketConn) net.PacketConn
	// Tune, if set, adjusts each dial's QUIC configuration.
	Tune func(*quicgo.Config)

	lastRTT atomic.Int64 // nanoseconds; 0 until a handshake completed
}

// HandshakeTimeout is the handshake timeout the next Dial uses.
func (d *Dialer) HandshakeTimeout() time.Duration {
	rtt := time.Duration(d.lastRTT.Load())
	if rtt <= 0 {
		return handshakeUnknownRTT
	}
	return min(max(handshakeRTTs*rtt, handshakeMin), handshakeMax)
}

// Dial runs a QUIC handshake with the server and opens the carrier stream. Errors
// after the socket is open wrap ErrHandshake; when ctx has ended they match its error.
func (d *Dialer) Dial(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	raddr, err := resolve(ctx, d.Addr)
	if err != nil {
		return nil, transports.ContextError(ctx, err)
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("open a UDP socket: %w", err)
	}
	var pc net.PacketConn = udp
	if d.Wrap != nil {
		pc = d.Wrap(ctx, udp)
	}
	tr := &quicgo.Transport{Conn: pc}
	release := func() {
		tr.Close()
		udp.Close()
	}
	cfg := clientConfig(d.HandshakeTimeout())
	if d.Tune != nil {
		d.Tune(cfg)
	}
	qc, err := tr.Dial(ctx, raddr, d.TLS, cfg)
	if err != nil {
		release()
		return nil, fmt.Errorf("%s: %w: %w", d.Addr, ErrHandshake, transports.ContextError(ctx, err))
	}
	context.AfterFunc(qc.Context(), release) // the socket lives as long as the connection
	if rtt := qc.ConnectionStats().SmoothedRTT; rtt > 0 {
		d.lastRTT.Store(int64(rtt))
		transports.Connected(ctx, "udp", rtt)
	}
	s, err := qc.OpenStream()
	if err == nil {
		// An empty data frame, so the server sees the carrier stream at once and
		// Accept returns before the client has anything to say.
		_, err = s.Write(appendHeader(nil, frameData, 0))
	}
	if err != nil {
		qc.CloseWithError(codeCancelled, "")
		return nil, fmt.Errorf("%s: open the carrier stream: %w", d.Addr, transports.ContextError(ctx, err))
	}
	return newConn(qc, s, false), nil
}

func clientConfig(handshake time.Duration) *quicgo.Config {
	return &quicgo.Config{
		Versions:             []quicgo.Version{quicgo.Version1},
		HandshakeIdleTimeout: handshake,
		MaxIdleTimeout:       idleTimeout,
		KeepAlivePeriod:      keepAlive,
		InitialPacketSize:    chromeInitialSize,
	}
}

// resolve looks addr's host up with ctx and returns its first address.
func resolve(ctx context.Context, addr string) (*net.UDPAddr, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", portStr, err)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ips[0].Unmap(), uint16(port))), nil
}
