package transports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// The helpers below are for every transport whose carrier is a TCP connection, so that
// keepalive, address checks and dial errors behave the same in all of them.

// tcpKeepAlive notices a peer that vanished (a phone that lost its network, a NAT that
// dropped the mapping) on a carrier that carries nothing at all. The session's own
// pings come more often (a client's every 5 s in the foreground and 60 s in the
// background, see client.IdlePreset) and keep NAT mappings alive, so the kernel's
// probes start only after 90 s of silence: sooner, they would wake a phone's radio
// beside every background ping, from both ends. 3 probes 10 s apart then give up on a
// dead peer.
func tcpKeepAlive() net.KeepAliveConfig {
	return net.KeepAliveConfig{Enable: true, Idle: 90 * time.Second, Interval: 10 * time.Second, Count: 3}
}

// DialTCP connects to addr with the carriers' keepalive and Nagle off, and tells ctx's
// Trace how long the connect took. When ctx has ended, the error matches ctx's error
// under errors.Is (see ContextError).
func DialTCP(ctx context.Context, addr string) (*net.TCPConn, error) {
	d := net.Dialer{KeepAliveConfig: tcpKeepAlive()}
	began := time.Now()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, ContextError(ctx, err)
	}
	Connected(ctx, "tcp", time.Since(began))
	tc := c.(*net.TCPConn)
	// Go turns Nagle off by default; saying so keeps the property if that ever changes,
	// because the session's small records must not wait for a full segment.
	if err := tc.SetNoDelay(true); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

// ListenTCP listens on addr; accepted connections get the carriers' keepalive.
func ListenTCP(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: tcpKeepAlive()}
	return lc.Listen(ctx, "tcp", addr)
}

// ContextError makes err match ctx's error under errors.Is when ctx has ended, so a
// caller can tell a cancelled dial from a failed one. net.Dialer arms the socket with
// ctx's deadline, which can fire a moment before ctx's own timer and give a bare
// "i/o timeout"; a deadline already passed counts as ctx's.
func ContextError(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(dl) {
		cerr = context.DeadlineExceeded
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// Accept returns the next conn from ln. Other errors than ln's closing (a host out of
// file descriptors, say) do not end a listener: Accept logs them and retries after a
// back-off of 5 ms doubling to 1 s, as net/http's server does. It returns net.ErrClosed
// once ln is closed or done is.
func Accept(ln net.Listener, done <-chan struct{}, log *slog.Logger) (net.Conn, error) {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err == nil {
			return conn, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, net.ErrClosed
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		log.Warn("accept failed", "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-done:
			return nil, net.ErrClosed
		}
	}
}
