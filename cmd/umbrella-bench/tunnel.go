package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"

	quicgo "github.com/quic-go/quic-go"

	"github.com/umbrella-edge/edge/internal/relay"
)

// A tunnel is the plain-TLS or plain-QUIC anchor: Go's crypto/tls or quic-go carrying
// one app connection per TLS connection (per QUIC connection's one stream) to a server
// that relays it upstream, with nothing of ours in between.
const (
	tunnelTLS  = "tls"
	tunnelQUIC = "quic"
)

// tunnelServerName is the name the anchors' certificate is issued for.
const tunnelServerName = "anchor.bench.test"

// tunnelALPN: QUIC needs one; it means nothing beyond the bench.
const tunnelALPN = "umbrella-bench-anchor"

// serveTunnel accepts kind's connections on listen ("127.0.0.1:0" for any port) and
// relays each to upstream over TCP until ctx ends. It returns the address it listens on.
func serveTunnel(ctx context.Context, kind, listen, upstream string, cert tls.Certificate) (string, error) {
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{tunnelALPN}}
	relayTo := func(c net.Conn) {
		up, err := (&net.Dialer{}).DialContext(ctx, "tcp", upstream)
		if err != nil {
			c.Close()
			return
		}
		relay.Splice(c, up, nil, nil)
	}
	switch kind {
	case tunnelTLS:
		ln, err := tls.Listen("tcp", listen, conf)
		if err != nil {
			return "", err
		}
		context.AfterFunc(ctx, func() { ln.Close() })
		go acceptLoop(ln, relayTo)
		return ln.Addr().String(), nil
	case tunnelQUIC:
		ln, err := quicgo.ListenAddr(listen, conf, &quicgo.Config{})
		if err != nil {
			return "", err
		}
		context.AfterFunc(ctx, func() { ln.Close() })
		go func() {
			for {
				qc, err := ln.Accept(ctx)
				if err != nil {
					return
				}
				go func() {
					s, err := qc.AcceptStream(ctx)
					if err != nil {
						qc.CloseWithError(0, "")
						return
					}
					relayTo(&quicStreamConn{qc: qc, Stream: s})
				}()
			}
		}()
		return ln.Addr().String(), nil
	}
	return "", fmt.Errorf("tunnel kind %q", kind)
}

// tunnelDialer connects to a tunnel server at addr whose certificate roots issued.
func tunnelDialer(kind, addr string, roots *x509.CertPool) func(context.Context) (net.Conn, error) {
	conf := &tls.Config{RootCAs: roots, ServerName: tunnelServerName, NextProtos: []string{tunnelALPN}}
	if kind == tunnelQUIC {
		return func(ctx context.Context) (net.Conn, error) {
			qc, err := quicgo.DialAddr(ctx, addr, conf, &quicgo.Config{})
			if err != nil {
				return nil, err
			}
			s, err := qc.OpenStreamSync(ctx)
			if err != nil {
				qc.CloseWithError(0, "")
				return nil, err
			}
			return &quicStreamConn{qc: qc, Stream: s}, nil
		}
	}
	d := &tls.Dialer{Config: conf}
	return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
}

// forward accepts app connections on listen and relays each through dial, as a
// client's local port does. It returns the address it listens on.
func forward(ctx context.Context, listen string, dial func(context.Context) (net.Conn, error)) (string, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", err
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	go acceptLoop(ln, func(c net.Conn) {
		up, err := dial(ctx)
		if err != nil {
			c.Close()
			return
		}
		relay.Splice(c, up, nil, nil)
	})
	return ln.Addr().String(), nil
}

func acceptLoop(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go handle(c)
	}
}

// quicStreamConn is a QUIC connection's one stream as a net.Conn; closing it closes
// the connection.
type quicStreamConn struct {
	qc *quicgo.Conn
	*quicgo.Stream
	once sync.Once
}

func (c *quicStreamConn) LocalAddr() net.Addr  { return c.qc.LocalAddr() }
func (c *quicStreamConn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// CloseWrite sends the stream's FIN.
func (c *quicStreamConn) CloseWrite() error { return c.Stream.Close() }

func (c *quicStreamConn) Close() error {
	c.once.Do(func() {
		c.Stream.CancelRead(0)
		c.Stream.Close()
		c.qc.CloseWithError(0, "")
	})
	return nil
}
