package httpfront

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

var (
	// ErrHTTP2 is returned when a front chose HTTP/2: the Upgrade these transports
	// rely on exists only in HTTP/1.1, so the site must not enable http2.
	ErrHTTP2 = errors.New("the server chose HTTP/2, but the HTTP Upgrade needs HTTP/1.1 (switch http2 off on that site)")
	// ErrNoUpgrade is returned when the server answered the Upgrade request with
	// something other than 101 Switching Protocols: a wrong path, or a front that
	// does not pass Upgrade headers on.
	ErrNoUpgrade = errors.New("the server did not switch protocols")
)

// DialTLS connects to addr with tc's browser-like TLS, refusing a server that picks
// HTTP/2. On error nothing is left open.
func DialTLS(ctx context.Context, addr string, tc *tlskit.Client) (net.Conn, error) {
	conn, alpn, err := tc.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	if alpn == "h2" {
		conn.Close()
		return nil, fmt.Errorf("server name %s: %w", tc.ServerName(), ErrHTTP2)
	}
	return conn, nil
}

// longAgo is a deadline that has certainly passed.
var longAgo = time.Unix(1, 0)

// Exchange writes request on conn and reads the response head, both bounded by ctx. It
// returns the response and the bytes that came after its head. An error matches ctx's
// error when ctx ended.
func Exchange(ctx context.Context, conn net.Conn, request []byte) (resp []byte, rest []byte, err error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(longAgo) })
	defer func() {
		if !stop() && err == nil {
			err = ctx.Err() // the deadline was (or is being) set: the conn is unusable
		}
		if err != nil {
			err = transports.ContextError(ctx, err)
		}
	}()
	if _, err := conn.Write(request); err != nil {
		return nil, nil, fmt.Errorf("send HTTP request: %w", err)
	}
	got, n, err := ReadHead(conn)
	if err != nil {
		return nil, nil, fmt.Errorf("read HTTP response: %w", err)
	}
	return got[:n], got[n:], nil
}
