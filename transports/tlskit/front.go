package tlskit

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports/decoy"
)

// Errors of ServerHandshake, besides crypto/tls's own.
var (
	// ErrPlainHTTP: the peer spoke plain HTTP (or other text) to the TLS port and got
	// nginx's answer to that.
	ErrPlainHTTP = errors.New("plain HTTP on the TLS port")
	// ErrRefusedHello: the peer's first flight is one OpenSSL refuses; it got
	// OpenSSL's alert, or silence.
	ErrRefusedHello = errors.New("first flight refused as OpenSSL refuses it")
)

// ServerHandshake runs the server side of TLS on conn as an nginx with OpenSSL meets
// whatever comes, so that a prober cannot tell the gateway from a web server by its
// reactions: a first byte that cannot start TLS is read as HTTP and gets nginx's
// answer; a first flight OpenSSL refuses gets OpenSSL's alert or silence, and the
// close it makes (a reset when the peer sent more than OpenSSL reads); a ClientHello
// OpenSSL would negotiate on goes to crypto/tls unchanged. ctx bounds the handshake:
// give it decoy.HeaderTimeout from accept, as nginx does. conn's read deadline is left
// at ctx's deadline. On error, conn has been answered and closed.
func ServerHandshake(ctx context.Context, conn net.Conn, config *tls.Config) (*tls.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	first := make([]byte, 1)
	if _, err := io.ReadFull(conn, first); err != nil {
		stop()
		conn.Close()
		return nil, fmt.Errorf("wait for a TLS ClientHello: %w", err)
	}
	// nginx peeks at the first byte: a handshake record, or an SSLv2 header.
	if first[0] != recordTypeHandshake && first[0]&0x80 == 0 {
		stop()
		// nginx's one timer, from accept, bounds the plain request's head too.
		dl, ok := ctx.Deadline()
		if !ok {
			dl = time.Now().Add(decoy.HeaderTimeout)
		}
		decoy.ServeBy(conn, first, decoy.PlainHTTPOnTLSPort(), dl)
		return nil, ErrPlainHTTP
	}
	flight, err := readFirstFlight(conn, first)
	stop()
	if err != nil {
		conn.Close()
		return nil, err
	}
	tc := tls.Server(&frontConn{Conn: conn, buffered: flight}, config)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// readFirstFlight reads as OpenSSL reads until judgeFlight lets a ClientHello pass,
// and returns every byte read. It answers and refuses what OpenSSL refuses.
func readFirstFlight(conn net.Conn, b []byte) ([]byte, error) {
	for {
		v := judgeFlight(b)
		switch v.action {
		case passHello:
			// OpenSSL skips empty records; crypto/tls refuses them.
			return append(withoutEmptyRecords(b[:v.end]), b[v.end:]...), nil
		case sendAlert:
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			conn.Write([]byte{21, byte(v.vers >> 8), byte(v.vers), 0, 2, 2, v.alert})
			return nil, fmt.Errorf("%w: %s", ErrRefusedHello, v.reason)
		case hangUp:
			return nil, fmt.Errorf("%w: %s", ErrRefusedHello, v.reason)
		}
		// Read as much as has come, up to what OpenSSL's buffer holds: what it
		// leaves unread decides between FIN and RST when it hangs up.
		b = slices.Grow(b, v.limit-len(b))
		n, err := conn.Read(b[len(b):v.limit])
		b = b[:len(b)+n]
		if err != nil {
			return nil, fmt.Errorf("read a TLS ClientHello: %w", err)
		}
	}
}

// withoutEmptyRecords returns the records in b (whole ones, as judgeFlight passed
// them) without those of length zero.
func withoutEmptyRecords(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) >= 5 {
		n := 5 + int(binary.BigEndian.Uint16(b[3:]))
		if n > 5 {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

// frontConn hands crypto/tls the first flight already read, then the conn. It puts
// OpenSSL's record version (3.3) on the plaintext alerts crypto/tls sends in 3.1
// records before a version is agreed; later records have 3.3 already.
type frontConn struct {
	net.Conn
	mu       sync.Mutex
	buffered []byte
}

func (c *frontConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.buffered) > 0 {
		n := copy(p, c.buffered)
		c.buffered = c.buffered[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

func (c *frontConn) Write(p []byte) (int, error) {
	if len(p) == 7 && p[0] == 21 && p[1] == 3 && p[2] == 1 && p[3] == 0 && p[4] == 2 {
		p = []byte{21, 3, 3, 0, 2, p[5], p[6]}
	}
	return c.Conn.Write(p)
}

// CloseWrite keeps the half-close of the conn underneath for tls.Conn.CloseWrite.
func (c *frontConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
