package httpfront

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxHead bounds an HTTP request or response head, as nginx's
// large_client_header_buffers (8k) does; a longer one is not ours and gets the decoy.
const MaxHead = 8 << 10

// ErrHeadTooLong is returned by ReadHead when no blank line ends the first MaxHead bytes.
var ErrHeadTooLong = errors.New("HTTP head longer than 8 KiB")

// ReadHead reads from r until the blank line that ends an HTTP head. It returns every
// byte it read: the head is got[:n], and got[n:] is what came after it in the same reads
// (a peer may send data right behind its head). On error, got still holds what was read,
// so a caller can hand it on to the decoy.
func ReadHead(r io.Reader) (got []byte, n int, err error) {
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			// Grows to one byte past MaxHead, so a head of exactly MaxHead still fits
			// and one byte more is known to be too long.
			grown := make([]byte, len(buf), min(2*cap(buf), MaxHead+1))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		from := max(0, len(buf)-2)
		buf = buf[:len(buf)+m]
		if end := headEnd(buf, from); end > 0 {
			return buf, end, nil
		}
		if len(buf) > MaxHead {
			return buf, 0, ErrHeadTooLong
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return buf, 0, err
		}
	}
}

// headEnd returns the length of the head in b (through its blank line, which may end in
// CRLF or, as nginx and Go also accept, a bare LF), or 0 if b holds no complete head.
// The search starts at from, so repeated calls on a growing buffer stay linear.
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case i >= 1 && b[i-1] == '\n':
			return i + 1
		case i >= 2 && b[i-1] == '\r' && b[i-2] == '\n':
			return i + 1
		}
	}
	return 0
}

// ParseRequest parses a request head as ReadHead returned it.
func ParseRequest(head []byte) (*http.Request, error) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return nil, fmt.Errorf("parse HTTP request head: %w", err)
	}
	return req, nil
}

// ParseResponse parses a response head as ReadHead returned it, for a request with
// method GET.
func ParseResponse(head []byte) (*http.Response, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("parse HTTP response head: %w", err)
	}
	return resp, nil
}

// HasToken reports whether a comma-separated header (Connection, Upgrade) lists token,
// ignoring case, as RFC 9110 section 5.6.1 reads such lists.
func HasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// IsUpgrade reports whether h asks for (or, in a response, agrees to) a switch to
// WebSocket: Connection lists upgrade and Upgrade lists websocket.
func IsUpgrade(h http.Header) bool {
	return HasToken(h, "Connection", "upgrade") && HasToken(h, "Upgrade", "websocket")
}
