package dns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"

	"golang.org/x/net/http2"

	"github.com/umbrella-edge/edge/transports"
)

// dohContentType is DNS over HTTPS's media type (RFC 8484 section 6).
const dohContentType = "application/dns-message"

// ErrNoHTTP2 is returned when a DoH resolver did not choose HTTP/2: browsers speak
// DoH over HTTP/2, and so does this client.
var ErrNoHTTP2 = errors.New("the DoH resolver did not choose HTTP/2")

// httpsResolver is DNS over HTTPS (RFC 8484): each query is a POST of its own on one
// HTTP/2 connection, whose TLS handshake is a browser's.
type httpsResolver struct {
	url  string
	conn net.Conn
	//lint:ignore SA1019 net/http's ClientConn dials its own crypto/tls connection; HTTP/2 over the browser handshake we ran needs x/net's, which takes the conn
	cc      *http2.ClientConn
	answers chan []byte
	broken  chan struct{} // closed when a request failed: the connection is gone
	done    chan struct{} // closed by Close
	err     error         // why broken was closed

	breakOnce sync.Once

	mu       sync.Mutex // guards closed and adding to requests
	closed   bool
	requests sync.WaitGroup
}

// dialHTTPS connects to addr, runs tc's handshake and starts HTTP/2 for url.
func dialHTTPS(ctx context.Context, addr, url string, tc tlsHandshaker) (*httpsResolver, error) {
	raw, err := transports.DialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	conn, alpn, err := tc.Handshake(ctx, quickAck(raw))
	if err != nil {
		raw.Close()
		return nil, err
	}
	if alpn != "h2" {
		conn.Close()
		return nil, fmt.Errorf("%s chose %q: %w", addr, alpn, ErrNoHTTP2)
	}
	//lint:ignore SA1019 as for the cc field: only x/net's transport runs HTTP/2 over a conn it did not dial
	cc, err := (&http2.Transport{}).NewClientConn(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("HTTP/2 with %s: %w", addr, err)
	}
	return &httpsResolver{
		url: url, conn: conn, cc: cc,
		answers: make(chan []byte, maxInflight),
		broken:  make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// Send posts msg; the answer comes out of Recv. A request that fails breaks the conn.
func (r *httpsResolver) Send(msg []byte) error {
	req, err := http.NewRequest(http.MethodPost, r.url, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	req.Header.Set("Accept", dohContentType)
	req.Header.Set("Content-Type", dohContentType)
	req.Header["User-Agent"] = []string{""} // not Go's: x/net/http2 leaves it out
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return net.ErrClosed
	}
	r.requests.Go(func() {
		answer, err := r.roundTrip(req)
		if err != nil {
			r.breakOnce.Do(func() { r.err = err; close(r.broken) })
			return
		}
		if answer == nil {
			return // an HTTP error: the query is lost, as a dropped datagram is
		}
		select {
		case r.answers <- answer:
		case <-r.done:
		}
	})
	return nil
}

func (r *httpsResolver) roundTrip(req *http.Request) ([]byte, error) {
	resp, err := r.cc.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil
	}
	return body, nil
}

func (r *httpsResolver) Recv() ([]byte, error) {
	select {
	case a := <-r.answers:
		return a, nil
	case <-r.broken:
		return nil, fmt.Errorf("DoH: %w", r.err)
	case <-r.done:
		return nil, net.ErrClosed
	}
}

func (r *httpsResolver) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	r.mu.Unlock()
	r.cc.Close() // ends the requests in flight
	r.conn.Close()
	r.requests.Wait()
	return nil
}

func (r *httpsResolver) LocalAddr() net.Addr  { return r.conn.LocalAddr() }
func (r *httpsResolver) RemoteAddr() net.Addr { return r.conn.RemoteAddr() }
