package decoy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
)

// request turns a head nginx accepted into the *http.Request a handler gets; its
// body reads from br, which holds what followed the head.
func (h *head) request(br *bufio.Reader) (*http.Request, error) {
	var b strings.Builder
	proto := "HTTP/1.1"
	if h.major == 1 && h.minor == 0 || h.minor == 9 {
		proto = "HTTP/1.0"
	}
	fmt.Fprintf(&b, "%s %s %s\r\n", h.method, h.uri, proto)
	for _, f := range h.header {
		// nginx passes control bytes in values that net/http refuses; the site
		// has no use for such fields either way.
		if !strings.ContainsFunc(f[1], func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			b.WriteString(f[0] + ": " + f[1] + "\r\n")
		}
	}
	b.WriteString("\r\n")
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
	if err != nil {
		return nil, err
	}
	req.ProtoMajor, req.ProtoMinor = h.major, h.minor
	req.Proto = fmt.Sprintf("HTTP/%d.%d", h.major, h.minor)
	if h.minor == 9 {
		req.ProtoMajor, req.Proto = 0, "HTTP/0.9"
	}
	req.Body = http.NoBody
	if te, ok := h.get("transfer-encoding"); ok && strings.EqualFold(te, "chunked") {
		req.Body = io.NopCloser(httputil.NewChunkedReader(br))
	} else if h.bodyLen > 0 {
		req.Body = io.NopCloser(io.LimitReader(br, h.bodyLen))
	}
	return req, nil
}
