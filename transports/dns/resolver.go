package dns

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

// A resolverConn carries one tunnel's DNS messages to a recursive resolver and back,
// over plain UDP, DNS over TLS or DNS over HTTPS.
type resolverConn interface {
	// Send sends one query; its answer comes out of Recv, in any order.
	Send(msg []byte) error
	// Recv returns the next answer. It fails once the conn is closed or broken.
	Recv() ([]byte, error)
	// Close ends the conn and unblocks Recv.
	Close() error
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// How a resolverConn reaches its resolver. Queries over TLS and HTTPS are padded.
type resolverKind int

const (
	overUDP resolverKind = iota
	overTLS
	overHTTPS
)

func (k resolverKind) String() string {
	return [...]string{"udp", "dot", "doh"}[k]
}

// udpResolver is plain DNS on a connected UDP socket.
type udpResolver struct {
	*net.UDPConn
	buf []byte
}

func dialUDP(ctx context.Context, addr string) (*udpResolver, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	return &udpResolver{UDPConn: c.(*net.UDPConn), buf: make([]byte, 64<<10)}, nil
}

func (r *udpResolver) Send(msg []byte) error {
	_, err := r.Write(msg)
	return err
}

// Recv returns the next datagram. An ICMP error for an earlier query (the kernel
// reports it on the next read of a connected socket) is not the conn's end.
func (r *udpResolver) Recv() ([]byte, error) {
	for {
		n, err := r.Read(r.buf)
		if errors.Is(err, syscall.ECONNREFUSED) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return append([]byte(nil), r.buf[:n]...), nil
	}
}

// streamResolver is DNS over TLS (RFC 7858): messages with a two-byte length on one
// TLS connection, pipelined, answered in any order.
type streamResolver struct {
	net.Conn
	wmu sync.Mutex
}

// dialTLS connects to addr and runs a TLS handshake for serverName, whose certificate
// must pass v. The TLS client is Go's: DNS-over-TLS clients are stub resolvers and
// operating systems, not browsers.
func dialTLS(ctx context.Context, addr string, v trust.Verifier) (*streamResolver, error) {
	raw, err := transports.DialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	c := tls.Client(quickAck(raw), &tls.Config{
		ServerName: v.ServerName,
		MinVersion: tls.VersionTLS12,
		// Go's own check is off so that v decides, with the bridge line's pin=.
		InsecureSkipVerify: true,
		VerifyConnection:   func(cs tls.ConnectionState) error { return v.Verify(cs.PeerCertificates) },
	})
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", v.ServerName, transports.ContextError(ctx, err))
	}
	return &streamResolver{Conn: c}, nil
}

func (r *streamResolver) Send(msg []byte) error {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_, err := r.Write(append(b, msg...))
	return err
}

func (r *streamResolver) Recv() ([]byte, error) {
	var size [2]byte
	if _, err := io.ReadFull(r.Conn, size[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(r.Conn, msg); err != nil {
		return nil, err
	}
	return msg, nil
}
