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

// HeaderTimeout is nginx's client_header_timeout (60 s). nginx arms it once, at
// accept, and it bounds the TLS handshake and the first request's head together: a
// server meant to look like nginx hangs up on a stalled peer when it runs out.
const HeaderTimeout = 60 * time.Second

// Timeouts close a decoy connection that a prober holds open, so a scan cannot pin
// gateway resources. The values are nginx's defaults: client_body_timeout 60s,
// keepalive_timeout 75s, send_timeout 60s.
const (
	bodyTimeout  = 60 * time.Second
	idleTimeout  = 75 * time.Second
	writeTimeout = 60 * time.Second
	// maxDrain is how much of a request body the handler left unread is skipped to
	// keep the connection; nginx's client_max_body_size default is 1m.
	maxDrain = 1 << 20
)

// Serve answers HTTP/1.1 on conn with h until the peer goes away or a timeout closes
// conn. prefix holds the bytes the caller already read from conn; they are served as
// the start of the first request. Serve closes conn before it returns.
//
// Serve reads request heads as nginx does, byte by byte, and refuses what nginx
// refuses at the byte nginx refuses it with nginx's page; it writes responses itself
// rather than through net/http's server, whose header order, header spelling and
// error pages identify a Go program.
func Serve(conn net.Conn, prefix []byte, h http.Handler) {
	ServeBy(conn, prefix, h, time.Now().Add(HeaderTimeout))
}

// ServeBy is Serve for a conn whose first request head must be complete by
// headDeadline. nginx's client_header_timeout runs from accept, through the TLS
// handshake, to the end of the first head: a caller that spent some of it before
// handing conn over passes what is left.
func ServeBy(conn net.Conn, prefix []byte, h http.Handler, headDeadline time.Time) {
	defer conn.Close()
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(prefix), conn), 4096)
	bw := bufio.NewWriterSize(conn, 4096)
	for first := true; ; first = false {
		if !first {
			headDeadline = time.Now().Add(idleTimeout)
		}
		conn.SetReadDeadline(headDeadline)
		hd, err := readHead(br)
		var refused *headError
		if errors.As(err, &refused) {
			conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			writeRefusal(bw, refused)
			var body io.Reader
			if refused.body > 0 {
				body = io.LimitReader(br, refused.body)
			}
			hangUp(conn, br, body)
			return
		}
		if err != nil {
			return // the peer left, or ran out of nginx's patience: nginx says nothing
		}
		req, err := hd.request(br)
		if err != nil {
			// A head nginx takes and net/http cannot represent; rare enough that a
			// 400 is the best answer there is.
			writeRefusal(bw, &headError{status: http.StatusBadRequest, method: hd.method})
			hangUp(conn, br, nil)
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
			hangUp(conn, br, req.Body)
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

// hangUp ends the conversation after the last answer, when nginx would: after
// discarding what is left of the body (nil: none), with HangUp. A body that came
// whole leaves nothing unread (nginx's ngx_http_discard_request_body runs before its
// error pages); one still coming does.
func hangUp(conn net.Conn, br *bufio.Reader, body io.Reader) {
	whole := true
	if body != nil {
		whole = discard(conn, body)
	}
	HangUp(conn, !whole || br.Buffered() > 0)
}

// HangUp closes conn after its last answer as nginx's ngx_http_finalize_connection
// does: a lingering close while the peer may still be sending (unread says bytes
// were received past the answered request, or a body was being discarded; bytes
// waiting in the socket count too), else a close at once. nginx turns lingering off
// for its 400s (ngx_http_special_response_handler), and a prober that writes after
// such an answer meets a closed socket's reset; a lingering close would take those
// bytes in silence, a difference it can see.
func HangUp(conn net.Conn, unread bool) {
	if !unread && !pending(conn) {
		conn.Close()
		return
	}
	linger(conn)
}

// pending reports whether the peer has sent bytes not read yet, as nginx's read
// event being ready does. Whatever the probe sent has arrived by the time its answer
// is written. The kernel's count is asked first: a read with a short deadline finds
// nothing when its goroutine runs after the deadline passed (make stress caught it
// beside a CPU hog: the decoy closed on 516 unread bytes, and the reset told it from
// nginx). The read remains for bytes a wrapper (TLS) has taken in already, which it
// returns at once, and where there is no socket to ask.
func pending(conn net.Conn) bool {
	if n, ok := queued(conn); ok && n > 0 {
		return true
	}
	conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	n, _ := conn.Read(make([]byte, 1))
	return n > 0
}

// discard reads and drops what is left of a request's body before a hang-up, as
// nginx does (ngx_http_discard_request_body), waiting for it as long as it waits
// while lingering. It reports whether the body came to its end.
func discard(conn net.Conn, body io.Reader) (whole bool) {
	conn.SetReadDeadline(time.Now().Add(lingerTime))
	_, err := io.CopyN(io.Discard, body, maxDrain)
	return errors.Is(err, io.EOF)
}

func linger(conn net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, conn, lingerBytes)
}

// writeRefusal answers a head nginx refuses with nginx's page for it, and ends the
// conversation.
func writeRefusal(bw *bufio.Writer, e *headError) {
	req := &http.Request{Method: e.method, ProtoMajor: 1, ProtoMinor: 1}
	if e.http09 {
		req.ProtoMajor, req.ProtoMinor = 0, 9
	}
	w := newResponse(bw, req)
	w.close = true
	writeError(w, e.status)
	w.finish()
}
