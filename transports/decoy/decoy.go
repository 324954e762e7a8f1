// Package decoy is the ordinary-looking website a gateway shows to peers that fail
// authentication on transports that look like HTTP(S): HTTP/1.1 on one accepted conn,
// served from a directory, a reverse proxy, or a bland built-in site.
package decoy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// Timeouts close a decoy connection that a prober holds open, so a scan cannot pin
// gateway resources. The values are nginx's defaults: client_header_timeout and
// client_body_timeout 60s, keepalive_timeout 75s, send_timeout 60s.
const (
	headerTimeout = 60 * time.Second
	bodyTimeout   = 60 * time.Second
	idleTimeout   = 75 * time.Second
	writeTimeout  = 60 * time.Second
	// maxHeaderBytes is nginx's large_client_header_buffers size (8k).
	maxHeaderBytes = 8 << 10
	// maxDrain is how much of a request body the handler left unread is skipped to
	// keep the connection; nginx's client_max_body_size default is 1m.
	maxDrain = 1 << 20
)

// Serve answers HTTP/1.1 on conn with h until the peer goes away or a timeout closes
// conn. prefix holds the bytes the caller already read from conn; they are served as
// the start of the first request. Serve closes conn before it returns.
//
// Serve writes responses itself rather than through net/http's server, whose header
// order, header spelling and error pages identify a Go program; these look like nginx.
func Serve(conn net.Conn, prefix []byte, h http.Handler) {
	defer conn.Close()
	limit := &io.LimitedReader{R: io.MultiReader(bytes.NewReader(prefix), conn)}
	br := bufio.NewReaderSize(limit, 4096)
	bw := bufio.NewWriterSize(conn, 4096)
	for first := true; ; first = false {
		wait := idleTimeout
		if first {
			wait = headerTimeout
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		limit.N = maxHeaderBytes
		req, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !isTimeout(err) {
				// Whatever the peer sent is not HTTP (or its header is too long):
				// nginx's 400 page, then hang up, as nginx does.
				conn.SetWriteDeadline(time.Now().Add(writeTimeout))
				writeBadRequest(bw)
				linger(conn)
			}
			return
		}
		limit.N = 1<<62 - 1
		if req.ProtoAtLeast(1, 1) && req.Host == "" {
			conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			writeBadRequest(bw) // RFC 9112 section 3.2: a 1.1 request without Host is a 400
			linger(conn)
			return
		}
		req.RemoteAddr = conn.RemoteAddr().String()
		conn.SetReadDeadline(time.Now().Add(bodyTimeout))
		conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		// Bounds a handler that waits on something else (a reverse proxy's upstream).
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		w := newResponse(bw, req)
		h.ServeHTTP(w, req.WithContext(ctx))
		cancel()
		if err := w.finish(); err != nil {
			return
		}
		if w.close {
			linger(conn)
			return
		}
		// Skip what the handler left of the body, so the next request starts in step.
		if n, _ := io.CopyN(io.Discard, req.Body, maxDrain+1); n > maxDrain {
			linger(conn)
			return
		}
		req.Body.Close()
	}
}

// Lingering close, as nginx's lingering_close: after the last response, stop sending
// and read what the peer still sends for a while, because closing with unread input
// makes the kernel send a reset that can destroy the response before it is read.
const (
	lingerTime  = 5 * time.Second // nginx's lingering_timeout
	lingerBytes = 1 << 20
)

func linger(conn net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, conn, lingerBytes)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func writeBadRequest(bw *bufio.Writer) {
	w := newResponse(bw, &http.Request{Method: http.MethodGet, ProtoMajor: 1, ProtoMinor: 1})
	w.close = true
	writeError(w, http.StatusBadRequest)
	w.finish()
}
