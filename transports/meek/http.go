package meek

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
)

// Connection limits, nginx's defaults as the decoy package uses them, so a prober sees
// one web server: client_header_timeout, keepalive_timeout, client_body_timeout and
// send_timeout, large_client_header_buffers (8k), client_max_body_size (1m).
const (
	headerTimeout = 60 * time.Second
	idleTimeout   = 75 * time.Second
	bodyTimeout   = 60 * time.Second
	writeTimeout  = 60 * time.Second
	maxHeadBytes  = httpfront.MaxHead
	maxDecoyBody  = 1 << 20
)

// serveHTTP answers the requests on one connection in turn: meek's POSTs, and the decoy
// website for everything else. Behind nginx one connection carries many sessions'
// requests, so a request that is not meek's is answered on its own and the connection
// goes on. The first request's head is due by the deadline set at accept (adm), and
// until it is read the connection holds a place in the listener's pool.
func (l *listener) serveHTTP(tc *trackedConn, conn net.Conn, adm *admitted) {
	br := bufio.NewReaderSize(conn, 16<<10)
	v := &visitor{pool: l.pool, conn: tc}
	defer v.leave()
	for first := true; ; first = false {
		if !l.setBusy(tc, false) {
			return
		}
		if !first {
			if !v.wait() {
				return
			}
			conn.SetReadDeadline(time.Now().Add(idleTimeout))
		}
		head, err := readHead(br)
		if first && !adm.release() {
			return // pushed out for a newcomer: cut off as a peer that stalled
		}
		switch {
		case errors.Is(err, errNotHTTP):
			// nginx's 400 at once; the decoy sees only what was read, so it need not
			// wait for a line end that may never come.
			if v.wait() && l.decoyOnce(conn, withBuffered(head, br), false) {
				decoy.HangUp(conn, true) // the decoy would go on; the bytes after these cannot
			}
			return
		case errors.Is(err, httpfront.ErrHeadTooLong):
			if v.wait() {
				decoy.Serve(conn, withBuffered(head, br), l.decoy) // nginx's 400
			}
			return
		case err != nil:
			return // the peer left, or sent half a request and went silent: nginx closes too
		}
		l.setBusy(tc, true)
		req, err := httpfront.ParseRequest(head)
		if err != nil {
			if v.wait() {
				decoy.Serve(conn, withBuffered(head, br), l.decoy) // not HTTP: nginx's 400
			}
			return
		}
		if _, ours := parseMeekRequest(req, l.path); !ours && !v.wait() {
			return // the decoy answers it: a visitor's from now on
		}
		conn.SetReadDeadline(time.Now().Add(bodyTimeout))
		goOn, meek := l.serveRequest(conn, br, head, req)
		if meek {
			v.leave() // a session's, or a front's pooled connection
		}
		if !goOn {
			return
		}
	}
}

// readHead reads a request head through its blank line, at most maxHeadBytes. It
// returns what it read even on error. Like nginx, it gives up on bytes that cannot
// start a request as soon as it sees them (errNotHTTP), instead of waiting for more.
func readHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	requestLine := true
	for {
		if requestLine && len(head) == 0 {
			b, err := br.Peek(1)
			if err != nil {
				return nil, err
			}
			if !isMethodByte(b[0]) && b[0] != '\r' && b[0] != '\n' {
				return nil, errNotHTTP
			}
		}
		line, err := br.ReadSlice('\n')
		head = append(head, line...)
		if len(head) > maxHeadBytes {
			return head, httpfront.ErrHeadTooLong
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return head, err
		case requestLine && isBlankLine(line) && len(head) == len(line):
			head = head[:0] // nginx skips empty lines before a request
		case requestLine:
			if !isRequestLine(head) {
				return head, errNotHTTP
			}
			requestLine = false
		case isBlankLine(line):
			return head, nil
		}
	}
}

var errNotHTTP = errors.New("not an HTTP request")

func isBlankLine(line []byte) bool { return string(line) == "\r\n" || string(line) == "\n" }

// isMethodByte says c may appear in a method, as nginx's parser allows.
func isMethodByte(c byte) bool { return c >= 'A' && c <= 'Z' || c == '_' || c == '-' }

// isRequestLine checks the shape "METHOD target HTTP/…" of a request line.
func isRequestLine(line []byte) bool {
	method, rest, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(" "))
	if !ok || len(method) == 0 {
		return false
	}
	for _, c := range method {
		if !isMethodByte(c) {
			return false
		}
	}
	target, version, ok := bytes.Cut(rest, []byte(" "))
	return ok && len(target) > 0 && bytes.HasPrefix(version, []byte("HTTP/"))
}

// withBuffered returns head and whatever br already holds after it: all that was read
// from the connection, for decoy.Serve to start from.
func withBuffered(head []byte, br *bufio.Reader) []byte {
	rest, _ := br.Peek(br.Buffered())
	return append(head, rest...)
}

// meekRequest is what a meek POST says besides its body.
type meekRequest struct {
	id     string
	window int
	end    end
	length int
}

// parseMeekRequest reports whether req is a meek POST to path, and reads its headers.
func parseMeekRequest(req *http.Request, path string) (meekRequest, bool) {
	// The path may be a secret: compared in constant time, so timing does not tell a
	// prober how much of it was guessed.
	if req.Method != http.MethodPost || subtle.ConstantTimeCompare([]byte(req.RequestURI), []byte(path)) != 1 || !req.ProtoAtLeast(1, 1) {
		return meekRequest{}, false
	}
	if len(req.TransferEncoding) > 0 || req.ContentLength < 0 || req.ContentLength > maxRequestBody {
		return meekRequest{}, false
	}
	id := req.Header.Get(hdrSessionID)
	if !validSessionID(id) {
		return meekRequest{}, false
	}
	window, err := parseWindow(req.Header.Get(hdrWindow))
	if err != nil {
		return meekRequest{}, false
	}
	e, err := parseEnd(req.Header.Get(hdrEnd))
	if err != nil {
		return meekRequest{}, false
	}
	return meekRequest{id: id, window: window, end: e, length: int(req.ContentLength)}, true
}

// Request bodies and responses use pooled buffers, taken only while they are needed
// (not while a poll is held), so idle sessions and a front's idle connections hold
// none.
var (
	bodyPool = sync.Pool{New: func() any { return new([maxRequestBody]byte) }}
	respPool = sync.Pool{New: func() any { return &response{} }}
)

// response is a meek response being built: the downstream bytes, then the whole
// response with its head.
type response struct {
	down [maxResponseBody]byte
	b    []byte
}

// serveRequest answers one request and reports whether the connection goes on, and
// whether the answer was meek's (not the decoy's).
func (l *listener) serveRequest(conn net.Conn, br *bufio.Reader, head []byte, req *http.Request) (goOn, meek bool) {
	mr, ok := parseMeekRequest(req, l.path)
	if !ok {
		return l.serveOther(conn, br, head, req), false
	}
	var body []byte
	if mr.length > 0 {
		buf := bodyPool.Get().(*[maxRequestBody]byte)
		defer bodyPool.Put(buf)
		body = buf[:mr.length]
		if _, err := io.ReadFull(br, body); err != nil {
			return false, false
		}
	}
	resp, ok := l.exchange(conn.RemoteAddr(), mr, body)
	if !ok {
		return l.decoyOnce(conn, append(head, body...), br.Buffered() > 0), false
	}
	defer respPool.Put(resp)
	conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := conn.Write(resp.b); err != nil {
		return false, true
	}
	return !req.Close, true
}

// serveOther answers a request that is not meek's with the decoy website.
func (l *listener) serveOther(conn net.Conn, br *bufio.Reader, head []byte, req *http.Request) bool {
	if len(req.TransferEncoding) > 0 || req.ContentLength > maxDecoyBody || req.ProtoAtLeast(1, 1) && req.Host == "" {
		// Bodies of unknown or large size, and broken requests: the decoy takes the
		// rest of the connection.
		decoy.Serve(conn, withBuffered(head, br), l.decoy)
		return false
	}
	body := make([]byte, req.ContentLength)
	if _, err := io.ReadFull(br, body); err != nil {
		return false
	}
	return l.decoyOnce(conn, append(head, body...), br.Buffered() > 0)
}

// decoyOnce answers the one request in raw with the decoy website, and reports whether
// the connection goes on (the decoy keeps it alive as nginx would). more says bytes
// were read past raw: a hang-up then lingers, as nginx's does.
func (l *listener) decoyOnce(conn net.Conn, raw []byte, more bool) bool {
	one := &oneRequestConn{Conn: conn}
	decoy.Serve(one, raw, l.decoy)
	if one.closes {
		decoy.HangUp(conn, one.lingered || more)
		return false
	}
	return true
}

// oneRequestConn lets decoy.Serve answer one request on a connection that goes on
// carrying other requests: the request is all in Serve's prefix, so reads end at
// once; Close leaves the connection open; and the response head is watched for
// "Connection: close", the decoy's way of ending the conversation.
type oneRequestConn struct {
	net.Conn
	head     []byte
	headDone bool
	closes   bool
	lingered bool // the decoy began a lingering close: it had not read all it was given
}

func (c *oneRequestConn) Read([]byte) (int, error) { return 0, io.EOF }

func (c *oneRequestConn) Close() error { return nil }

func (c *oneRequestConn) CloseWrite() error {
	c.lingered = true
	return nil
}

func (c *oneRequestConn) Write(p []byte) (int, error) {
	if !c.headDone {
		c.head = append(c.head, p[:min(len(p), maxHeadBytes-len(c.head))]...)
		i := bytes.Index(c.head, []byte("\r\n\r\n"))
		if i >= 0 || len(c.head) >= maxHeadBytes {
			c.headDone = true
			if i >= 0 {
				c.closes = bytes.Contains(c.head[:i+2], []byte("\r\nConnection: close\r\n"))
			}
		}
	}
	return c.Conn.Write(p)
}

// appendResponse appends a meek response, in nginx's header order and spelling.
func appendResponse(b, body []byte, window int, e end) []byte {
	b = append(b, "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = fmt.Appendf(b, "\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: keep-alive\r\n%s: %d\r\n",
		len(body), hdrWindow, window)
	if e != endNone {
		b = fmt.Appendf(b, "%s: %s\r\n", hdrEnd, e)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}
