package decoy

import (
	"bufio"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBuffered is how much of a response is held back to send it with a
// Content-Length; longer ones (a proxied download) go out chunked, as from nginx.
const maxBuffered = 64 << 10

// response is an http.ResponseWriter that writes HTTP/1.1 the way nginx does: its
// header order and spelling, Content-Length when the size is known, keep-alive stated.
type response struct {
	bw         *bufio.Writer
	req        *http.Request
	header     http.Header
	status     int
	body       []byte
	headLen    int // bytes a handler wrote to a response that carries no body (HEAD)
	headerSent bool
	chunked    bool
	close      bool // hang up after this response
}

func newResponse(bw *bufio.Writer, req *http.Request) *response {
	r := &response{bw: bw, req: req, header: http.Header{}}
	// HTTP/1.0 and "Connection: close" end the conversation after one response.
	r.close = req.Close || !req.ProtoAtLeast(1, 1) && !strings.EqualFold(req.Header.Get("Connection"), "keep-alive")
	return r
}

func (r *response) Header() http.Header { return r.header }

// WriteHeader records the status; informational ones (a proxied 103) are dropped.
func (r *response) WriteHeader(code int) {
	if r.status != 0 || code < 200 || code > 999 {
		return
	}
	r.status = code
}

func (r *response) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if !r.bodyAllowed() {
		r.headLen += len(p) // counted for a HEAD's Content-Length, never sent
		return len(p), nil
	}
	if !r.headerSent {
		if len(r.body)+len(p) <= maxBuffered {
			r.body = append(r.body, p...)
			return len(p), nil
		}
		if err := r.sendHeader(false); err != nil {
			return 0, err
		}
	}
	return r.writeBody(p)
}

// Flush sends what is buffered, for handlers that stream (a proxied event stream).
func (r *response) Flush() {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if !r.headerSent && r.sendHeader(false) != nil {
		return
	}
	r.bw.Flush()
}

// finish completes the response once the handler has returned.
func (r *response) finish() error {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if !r.headerSent {
		if err := r.sendHeader(true); err != nil {
			return err
		}
	}
	if r.chunked {
		r.bw.WriteString("0\r\n\r\n")
	}
	return r.bw.Flush()
}

func (r *response) bodyAllowed() bool {
	return r.req.Method != http.MethodHead && r.status >= 200 && r.status != http.StatusNoContent && r.status != http.StatusNotModified
}

// sendHeader writes the status line and header. complete says the handler is done, so
// a buffered body's length is known.
func (r *response) sendHeader(complete bool) error {
	r.headerSent = true
	h := r.header
	if strings.EqualFold(h.Get("Connection"), "close") {
		r.close = true // the handler's way to end the conversation, as with net/http
	}
	for _, hop := range []string{"Connection", "Keep-Alive", "Transfer-Encoding", "Proxy-Connection", "Upgrade"} {
		h.Del(hop)
	}
	if h.Get("Content-Length") == "" && r.status >= 200 && r.status != http.StatusNoContent && r.status != http.StatusNotModified {
		switch {
		case complete:
			h.Set("Content-Length", strconv.Itoa(len(r.body)+r.headLen))
		case r.req.ProtoAtLeast(1, 1):
			r.chunked = true
		default:
			r.close = true // HTTP/1.0 without a length: the end of the body is the close
		}
	}
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}

	if r.req.ProtoMajor == 0 {
		// HTTP/0.9 has no status line and no header: the body, then the close.
		r.close, r.chunked = true, false
		return r.writeBuffered()
	}
	fmt.Fprintf(r.bw, "HTTP/1.1 %d %s\r\n", r.status, statusText(r.status))
	// nginx writes these first, in this order, then the rest.
	first := []string{"Server", "Date", "Content-Type", "Content-Length", "Last-Modified", "Location"}
	for _, k := range first {
		writeField(r.bw, k, h[k])
	}
	if r.chunked {
		r.bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if r.close {
		r.bw.WriteString("Connection: close\r\n")
	} else {
		r.bw.WriteString("Connection: keep-alive\r\n")
	}
	rest := make([]string, 0, len(h))
	for k := range h {
		if !slices.Contains(first, k) {
			rest = append(rest, k)
		}
	}
	slices.SortStableFunc(rest, func(a, b string) int {
		if ra, rb := fieldRank(a), fieldRank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	for _, k := range rest {
		writeField(r.bw, k, h[k])
	}
	if _, err := r.bw.WriteString("\r\n"); err != nil {
		return err
	}
	return r.writeBuffered()
}

// writeBuffered sends the body held back so far.
func (r *response) writeBuffered() error {
	if len(r.body) == 0 {
		return nil
	}
	body := r.body
	r.body = nil
	_, err := r.writeBody(body)
	return err
}

func (r *response) writeBody(p []byte) (int, error) {
	if !r.chunked {
		return r.bw.Write(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	fmt.Fprintf(r.bw, "%x\r\n", len(p))
	r.bw.Write(p)
	_, err := r.bw.WriteString("\r\n")
	return len(p), err
}

// fieldRank puts ETag and Accept-Ranges where nginx's static module puts them.
func fieldRank(k string) int {
	switch k {
	case "Etag":
		return 0
	case "Accept-Ranges":
		return 1
	}
	return 2
}

// spelling maps Go's canonical header keys to the spelling servers send.
var spelling = map[string]string{"Etag": "ETag", "Www-Authenticate": "WWW-Authenticate", "Content-Md5": "Content-MD5"}

func writeField(bw *bufio.Writer, key string, values []string) {
	if s, ok := spelling[key]; ok {
		key = s
	}
	for _, v := range values {
		// A value with a line break would split the header; drop such values.
		if strings.ContainsAny(v, "\r\n") {
			continue
		}
		bw.WriteString(key)
		bw.WriteString(": ")
		bw.WriteString(textproto.TrimString(v))
		bw.WriteString("\r\n")
	}
}
