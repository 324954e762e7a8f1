package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
)

// maxHTTPHeader bounds a CONNECT request with its headers; browsers send well under 2 KiB.
const maxHTTPHeader = 16 << 10

// HTTPConnect is a Handler for HTTP proxies' CONNECT method: "CONNECT host:port
// HTTP/1.1" is answered 200 and becomes the raw stream. Other methods get 405, hosts
// Resolve does not map 403, failed dials 502.
type HTTPConnect struct {
	Dial    DialFunc
	Resolve Resolver
}

// connectRequest is an HTTP CONNECT request's target.
type connectRequest struct {
	Host string
	Port uint16
}

// errMethod is a request with a method other than CONNECT.
var errMethod = fmt.Errorf("%w: http method", ErrUnsupported)

// Open implements Handler.
func (h *HTTPConnect) Open(ctx context.Context, app net.Conn) (net.Conn, Target, error) {
	lr := &io.LimitedReader{R: app, N: maxHTTPHeader}
	br := bufio.NewReader(lr)
	req, err := readHTTPConnect(br)
	if err != nil {
		if lr.N == 0 {
			err = fmt.Errorf("%w: http request longer than %d bytes", ErrMalformed, maxHTTPHeader)
		}
		switch {
		case errors.Is(err, errMethod):
			writeHTTPStatus(app, http.StatusMethodNotAllowed, "Allow: CONNECT\r\n")
		case errors.Is(err, ErrMalformed):
			writeHTTPStatus(app, http.StatusBadRequest, "")
		}
		return nil, Target{}, err
	}
	t := Target{Host: req.Host}
	svc, ok := h.Resolve(req.Host)
	if !ok {
		writeHTTPStatus(app, http.StatusForbidden, "")
		return nil, t, fmt.Errorf("http connect: %w", ErrNotAllowed)
	}
	t.Service = svc
	up, err := h.Dial(ctx, svc)
	if err != nil {
		writeHTTPStatus(app, http.StatusBadGateway, "")
		return nil, t, &DialError{Service: svc, Err: err}
	}
	if _, err := io.WriteString(app, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		up.Close()
		return nil, t, fmt.Errorf("http connect: write response: %w", err)
	}
	// Apps may send their first bytes (a TLS hello) right behind the request.
	if n := br.Buffered(); n > 0 {
		early, _ := br.Peek(n)
		if _, err := up.Write(early); err != nil {
			up.Close()
			return nil, t, &DialError{Service: svc, Err: fmt.Errorf("write early data: %w", err)}
		}
	}
	return up, t, nil
}

// readHTTPConnect reads a request and its headers, and returns the target of a CONNECT
// in authority form (host:port). Bytes after the headers stay in br.
func readHTTPConnect(br *bufio.Reader) (connectRequest, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		var ne net.Error
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) {
			return connectRequest{}, fmt.Errorf("read http request: %w", err)
		}
		return connectRequest{}, fmt.Errorf("%w: http request: %v", ErrMalformed, err)
	}
	if req.Method != http.MethodConnect {
		return connectRequest{}, fmt.Errorf("%w %.20q", errMethod, req.Method)
	}
	host, port, err := net.SplitHostPort(req.RequestURI)
	if err != nil || host == "" {
		return connectRequest{}, fmt.Errorf("%w: http connect target is not host:port", ErrMalformed)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return connectRequest{}, fmt.Errorf("%w: http connect port is not a number", ErrMalformed)
	}
	return connectRequest{Host: host, Port: uint16(p)}, nil
}

// writeHTTPStatus answers a request the proxy will not carry out; the conn closes next.
func writeHTTPStatus(w io.Writer, code int, headers string) {
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n",
		code, http.StatusText(code), headers)
}
