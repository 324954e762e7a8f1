// Package decoy is the ordinary-looking website a gateway shows to peers that fail
// authentication on transports that look like HTTP(S): HTTP/1.1 on one accepted conn,
// served from a directory, a reverse proxy, or a bland built-in site.
package decoy

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// Timeouts close a decoy connection that a prober holds open, so a scan cannot pin
// gateway resources. The values sit near nginx's defaults (client_header_timeout 60s,
// keepalive_timeout 75s) without being them exactly, so a slow client is treated as a
// plain web server would treat it.
const (
	readHeaderTimeout = 30 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 65 * time.Second
	// maxHeaderBytes is nginx's large_client_header_buffers size (8k).
	maxHeaderBytes = 8 << 10
)

// Serve answers HTTP/1.1 on conn with h until the peer goes away or a timeout closes
// conn. prefix holds the bytes the caller already read from conn; they are served as
// the start of the first request. Serve closes conn before it returns.
func Serve(conn net.Conn, prefix []byte, h http.Handler) {
	c := &prefixConn{Conn: conn, prefix: bytes.NewReader(prefix), closed: make(chan struct{})}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// net/http would log malformed requests from probers; those are expected.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv.Serve(&oneConnListener{conn: c})
	c.Close()
}

// prefixConn replays prefix before reading from the conn and reports when it is closed.
type prefixConn struct {
	net.Conn
	prefix    *bytes.Reader
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.prefix.Len() > 0 {
		return c.prefix.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *prefixConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		close(c.closed)
	})
	return err
}

// oneConnListener hands its conn to http.Server once, then blocks Accept until that conn
// is closed, so Server.Serve returns exactly when the conversation is over.
type oneConnListener struct {
	conn *prefixConn
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.conn.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }
