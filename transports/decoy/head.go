package decoy

import (
	"bufio"
	"strconv"
	"strings"
)

// nginx's buffers for a request head (client_header_buffer_size 1k,
// large_client_header_buffers 4 8k): a line that outgrows a full buffer moves to a
// large one; a request line or header line longer than a large buffer, or a head
// needing a fifth, is refused.
const (
	headerBuffer      = 1 << 10
	largeHeaderBuffer = 8 << 10
	largeHeaderCount  = 4
)

// Statuses nginx answers a refused head with. 494 goes out as 400 with its own page.
const (
	statusHeaderTooLarge = 494
	statusToHTTPS        = 497
)

// A head is a request head nginx accepted.
type head struct {
	method, uri string
	major       int
	minor       int // 9 for an HTTP/0.9 request, which has no header
	header      [][2]string
	raw         []byte // every byte of the head, from the request line on
	// bodyLen is the Content-Length, once nginx has read it (after the Host check).
	bodyLen int64
}

// headError is a head nginx refused, with the status it answers.
type headError struct {
	status int
	method string // "" when the request line was not complete
	http09 bool   // the answer goes out as HTTP/0.9: the page alone
	// body is the length of the body nginx reads and discards before it hangs up.
	body int64
}

func (e *headError) Error() string {
	return "decoy: nginx refuses this request: " + strconv.Itoa(e.status)
}

// headReader reads one request head from br as nginx would, byte by byte, so that a
// refusal comes at the byte nginx refuses at.
type headReader struct {
	h    head
	line requestLine
	hdr  headerLine
	// The simulated nginx buffer: where it starts in raw, its size, large ones taken.
	bufStart, bufSize, large int
	lineStart                int  // where the current line starts in raw
	inHeader                 bool // the request line is done
	hasHost                  bool // a Host line came
	unique                   map[string]bool
}

// readHead returns the next request head from br, a *headError if nginx refuses it,
// or the read error (EOF, a timeout) that cut it short.
func readHead(br *bufio.Reader) (*head, error) {
	r := newHeadReader()
	for {
		c, err := br.ReadByte()
		if err != nil {
			return nil, err
		}
		if refused := r.fit(); refused != nil {
			return nil, refused
		}
		done, refused := r.feed(c)
		switch {
		case refused != nil:
			return nil, refused
		case done:
			return &r.h, nil
		}
	}
}

func newHeadReader() *headReader {
	return &headReader{bufSize: headerBuffer, unique: map[string]bool{}}
}

// fit makes room for one more byte as nginx's buffers would, or refuses.
func (r *headReader) fit() *headError {
	if len(r.h.raw) < r.bufStart+r.bufSize {
		return nil
	}
	midLine := len(r.h.raw) - r.lineStart
	if !r.inHeader && r.line.methodEnd > 0 {
		r.h.method = string(r.h.raw[:r.line.methodEnd])
	} else if r.inHeader && r.hdr.state == hStart {
		midLine = 0
	}
	if midLine >= largeHeaderBuffer || r.large == largeHeaderCount {
		if !r.inHeader {
			return r.refuse(414)
		}
		return r.refuse(statusHeaderTooLarge)
	}
	r.large++
	r.bufStart, r.bufSize = len(r.h.raw)-midLine, largeHeaderBuffer
	return nil
}

// feed reads one byte and reports whether the head is complete.
func (r *headReader) feed(c byte) (bool, *headError) {
	r.h.raw = append(r.h.raw, c)
	if !r.inHeader {
		switch r.line.step(c) {
		case scanInvalid:
			return false, &headError{status: 400}
		case scanVersion:
			return false, &headError{status: 505}
		case scanLine:
			return r.requestLineDone()
		}
		if r.line.n == 0 {
			// Blank lines before a request are no part of it; nginx does not keep
			// them either (it starts its buffer over when they fill it).
			r.h.raw = r.h.raw[:0]
		}
		return false, nil
	}
	switch r.hdr.step(c) {
	case scanInvalid:
		return false, r.refuse(400)
	case scanLine:
		if err := r.headerLineDone(); err != nil {
			return false, err
		}
		r.lineStart, r.hdr = len(r.h.raw), headerLine{}
	case scanDone:
		return true, r.headDone()
	}
	return false, nil
}

func (r *headReader) refuse(status int) *headError {
	return &headError{status: status, method: r.h.method, http09: r.h.minor == 9 && r.h.major == 0, body: r.h.bodyLen}
}

// requestLineDone takes the request line apart and checks what nginx checks then.
func (r *headReader) requestLineDone() (bool, *headError) {
	l, raw := &r.line, r.h.raw
	r.h.method = string(raw[:l.methodEnd])
	r.h.major, r.h.minor = l.major, l.minor
	if l.uriStart < 0 {
		r.h.uri = "/"
	} else {
		r.h.uri = string(raw[l.uriStart:l.uriEnd])
	}
	r.lineStart, r.inHeader = len(raw), true
	if l.http09() && r.h.method != "GET" {
		return false, &headError{status: 400, http09: true}
	}
	if !cleanPath(r.h.uri) {
		return false, r.refuse(400)
	}
	if l.hostEnd > 0 && !validHost(string(raw[l.hostStart:l.hostEnd])) {
		return false, r.refuse(400)
	}
	return l.http09(), nil
}

// uniqueHeaders may come once; nginx refuses a request with two.
var uniqueHeaders = map[string]bool{
	"if-modified-since": true, "if-unmodified-since": true, "if-match": true, "if-none-match": true,
	"content-length": true, "content-range": true, "if-range": true, "transfer-encoding": true,
	"expect": true, "authorization": true,
}

func (r *headReader) headerLineDone() *headError {
	if r.hdr.invalid {
		return nil // nginx skips it
	}
	line := r.h.raw[r.lineStart:]
	name := string(line[:r.hdr.nameEnd])
	value := string(line[r.hdr.valueStart:r.hdr.valueEnd])
	key := strings.ToLower(name)
	switch {
	case key == "host":
		if r.hasHost || !validHost(value) {
			return r.refuse(400)
		}
		r.hasHost = true
	case uniqueHeaders[key]:
		if r.unique[key] {
			return r.refuse(400)
		}
		r.unique[key] = true
	}
	r.h.header = append(r.h.header, [2]string{name, value})
	return nil
}

// headDone checks a whole head as nginx does before it serves the request.
func (r *headReader) headDone() *headError {
	h := &r.h
	if !r.hasHost && (h.major > 1 || h.minor > 0) {
		return r.refuse(400)
	}
	cl, hasCL := h.get("content-length")
	if hasCL {
		n, err := strconv.ParseUint(cl, 10, 63) // digits only, as nginx reads a length
		if err != nil {
			return r.refuse(400)
		}
		h.bodyLen = int64(n)
	}
	if te, ok := h.get("transfer-encoding"); ok {
		switch {
		case h.minor < 1 && h.major == 1:
			return r.refuse(400)
		case !strings.EqualFold(te, "chunked"):
			return r.refuse(501)
		case hasCL:
			return r.refuse(400)
		}
	}
	if h.method == "CONNECT" || h.method == "TRACE" {
		return r.refuse(405)
	}
	return nil
}

func (h *head) get(key string) (string, bool) {
	for _, f := range h.header {
		if strings.EqualFold(f[0], key) {
			return f[1], true
		}
	}
	return "", false
}

// validHost reports whether nginx takes host (ngx_http_validate_host): no empty
// label, no path separator or control byte, something before the port.
func validHost(host string) bool {
	dot, end, state := -2, len(host), 0 // state: 0 name, 1 IP literal, 2 port
	for i := 0; i < len(host); i++ {
		switch c := host[i]; {
		case c == '.':
			if dot == i-1 {
				return false
			}
			dot = i
		case c == ':':
			if state == 0 {
				end, state = i, 2
			}
		case c == '[':
			if i == 0 {
				state = 1
			}
		case c == ']':
			if state == 1 {
				end, state = i+1, 2
			}
		case c == '/' || c <= 0x20 || c == 0x7f:
			return false
		}
	}
	if dot == end-1 {
		end--
	}
	return end > 0
}

// cleanPath reports whether nginx can resolve uri's path: its escapes are whole, and
// its dot segments stay below the root.
func cleanPath(uri string) bool {
	path, _, _ := strings.Cut(uri, "?")
	path, _, _ = strings.Cut(path, "#")
	var dec []byte
	for i := 0; i < len(path); i++ {
		if path[i] != '%' {
			dec = append(dec, path[i])
			continue
		}
		if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
			return false
		}
		v, _ := strconv.ParseUint(path[i+1:i+3], 16, 8)
		dec = append(dec, byte(v))
		i += 2
	}
	depth := 0
	for _, seg := range strings.Split(string(dec), "/")[1:] {
		switch seg {
		case ".", "":
		case "..":
			if depth--; depth < 0 {
				return false
			}
		default:
			depth++
		}
	}
	return true
}

func isHex(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }
