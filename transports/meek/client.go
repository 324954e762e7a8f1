package meek

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

const (
	// requestTimeout bounds one request and its response: the longest hold
	// (firstHold) plus time for a slow CDN. nginx's proxy_read_timeout is 60 s too.
	requestTimeout = 60 * time.Second
	// closeTimeout bounds the last request that tells the server the client closed.
	closeTimeout = 5 * time.Second
	// maxResponseHead bounds a response's status line and header.
	maxResponseHead = 16 << 10
)

type dialer struct {
	addr   string
	tls    *tlskit.Client
	target target
}

func newDialer(addr string, args transports.Args, roots *x509.CertPool) (*dialer, error) {
	known := append([]string{argURL, argHost, argPath}, tlskit.ClientArgs...)
	if err := args.Unknown(known...); err != nil {
		return nil, err
	}
	if err := transports.CheckHostPort(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	tc, err := tlskit.NewClient(host, args, roots)
	if err != nil {
		return nil, err
	}
	t, err := parseTarget(args, tc.ServerName(), "")
	if err != nil {
		return nil, err
	}
	return &dialer{addr: addr, tls: tc, target: t}, nil
}

// connect opens a TLS connection to the front and checks that it speaks HTTP/1.1.
func (d *dialer) connect(ctx context.Context) (net.Conn, error) {
	conn, err := httpfront.DialTLS(ctx, d.addr, d.tls)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", Name, d.addr, err)
	}
	return conn, nil
}

// Dial connects to the front and opens the session with a first, empty request, so the
// gateway's Accept returns it. The server answers it as its website would (see
// listener.exchange); an HTTP answer of any kind shows that the front speaks HTTP/1.1.
func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	tc, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	var id [32]byte
	rand.Read(id[:])
	c := &clientConn{
		pipe: newPipe(tc.LocalAddr(), tc.RemoteAddr()),
		d:    d,
		id:   base64.StdEncoding.EncodeToString(id[:]),
		conn: tc,
	}
	p := &poller{c: c, serverWindow: maxRequestBody, backoff: initialPollDelay,
		body: make([]byte, maxRequestBody), resp: make([]byte, maxResponseBody)}
	stop := context.AfterFunc(ctx, func() { tc.Close() })
	err = p.roundTrip()
	if !stop() {
		err = transports.ContextError(ctx, fmt.Errorf("%s: open session: %w", Name, ctx.Err()))
	}
	if err != nil {
		tc.Close()
		return nil, err
	}
	go c.run(p)
	return c, nil
}

// clientConn is the client side of a meek session: a pipe, and a poller goroutine that
// carries it over sequential HTTP requests.
type clientConn struct {
	*pipe
	transports.ServerClock // the front's last Date
	d                      *dialer
	id                     string

	mu      sync.Mutex
	conn    net.Conn // the keep-alive connection to the front; nil between connections
	closing bool
	closeBy time.Time // when the poller gives up on telling the server about Close
}

func (c *clientConn) setConn(tc net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn = tc
}

// armDeadline bounds the next request on conn: requestTimeout, or what is left of
// closeTimeout once the conn is closed.
func (c *clientConn) armDeadline(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		conn.SetDeadline(c.closeBy)
	} else {
		conn.SetDeadline(time.Now().Add(requestTimeout))
	}
}

// Close ends the conn at once; the poller then sends what was written and a last
// request saying the session is closed, bounded by closeTimeout, so the server can
// forget the session without waiting for its expiry.
func (c *clientConn) Close() error {
	err := c.pipe.closePipe()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing {
		c.closing, c.closeBy = true, time.Now().Add(closeTimeout)
		if c.conn != nil {
			c.conn.SetDeadline(c.closeBy)
		}
	}
	return err
}

// run is the poller: one request at a time, sent at once while bytes flow, else after a
// delay that grows while the session is idle.
func (c *clientConn) run(p *poller) {
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.conn != nil {
			c.conn.Close()
			c.conn = nil
		}
	}()
	for p.next() {
		if err := p.roundTrip(); err != nil {
			c.pipe.fail(err)
			return
		}
	}
}

type poller struct {
	c *clientConn
	// answered: the server answered with 200, which it does only once the gateway
	// accepted the session. Until then its answers are the decoy website's, and
	// what the client sends is bounded by the window a new session starts with.
	answered     bool
	unconfirmed  int  // bytes sent before answered
	stalled      bool // the last request moved nothing and got the website: wait before the next
	opened       bool // the opening request went out (its answer is always the website)
	eofSent      bool
	closeSent    bool
	lastWindow   int           // the window the last request announced
	serverWindow int           // what the server can take, from its last response
	delay        time.Duration // before the next poll when nothing is urgent
	backoff      time.Duration
	body         []byte // upstream bytes of the next request
	req          []byte // the next request
	resp         []byte // downstream bytes of the last response
	br           *bufio.Reader
	limit        io.LimitedReader
}

// next waits until a request is due and reports whether the session goes on.
func (p *poller) next() bool {
	t := time.NewTimer(p.delay)
	defer t.Stop()
	for {
		st, changed := p.c.pipe.state()
		switch {
		case st.failed || p.closeSent:
			return false
		case st.closed:
			return true
		case p.stalled:
			// Bytes waiting do not hurry a poll that a front would answer with its
			// website again: a wrong url= must not make the client hammer a CDN.
		case st.outLen > 0:
			return true
		case st.end == endEOF && !p.eofSent:
			return true
		case p.lastWindow == 0 && st.window > 0:
			return true // Read made room: the server may be holding bytes back
		}
		select {
		case <-changed:
		case <-t.C:
			return true
		}
	}
}

// roundTrip sends one request with what is waiting upstream and takes the response's
// bytes downstream.
func (p *poller) roundTrip() error {
	c := p.c
	conn, err := p.conn()
	if err != nil {
		return err
	}
	limit := min(maxRequestBody, p.serverWindow)
	if !p.answered {
		limit = min(limit, queueSize-p.unconfirmed)
	}
	n, e, window := c.pipe.take(p.body[:limit])
	if !p.answered {
		p.unconfirmed += n
	}
	window = min(window, maxResponseBody)
	req := fmt.Appendf(p.req[:0], "POST %s HTTP/1.1\r\nHost: %s\r\n%s: %s\r\n%s: %d\r\n",
		c.d.target.path, c.d.target.host, hdrSessionID, c.id, hdrWindow, window)
	if e != endNone {
		req = fmt.Appendf(req, "%s: %s\r\n", hdrEnd, e)
	}
	req = fmt.Appendf(req, "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", n)
	req = append(req, p.body[:n]...)
	p.req = req
	c.armDeadline(conn)
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("%s: send request: %w", Name, err)
	}
	p.lastWindow = window
	switch e {
	case endEOF:
		p.eofSent = true
	case endClose:
		p.closeSent = true
	}

	got, err := p.readResponse(conn, window)
	if err != nil {
		return err
	}
	// The opening request's answer is the website by design; only a later one that
	// moved nothing means the front keeps answering as a website (a wrong url=).
	p.stalled = !p.answered && n == 0 && p.opened
	p.opened = true
	if n > 0 || got > 0 {
		p.delay, p.backoff = 0, initialPollDelay
	} else {
		p.delay, p.backoff = p.backoff, min(p.backoff*3/2, maxPollDelay)
	}
	return nil
}

// conn returns the keep-alive connection, opening a new one when the front closed the
// last (nginx does after keepalive_requests).
func (p *poller) conn() (net.Conn, error) {
	c := p.c
	c.mu.Lock()
	conn, deadline := c.conn, time.Now().Add(requestTimeout)
	if c.closing {
		deadline = c.closeBy
	}
	c.mu.Unlock()
	if conn != nil {
		return conn, nil
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	conn, err := c.d.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.setConn(conn)
	p.br = nil
	return conn, nil
}

// readResponse reads the answer to a request that announced window, and delivers its
// bytes. It returns how many bytes came.
func (p *poller) readResponse(conn net.Conn, window int) (int, error) {
	c := p.c
	if p.br == nil {
		p.limit.R = conn
		p.br = bufio.NewReaderSize(&p.limit, 16<<10)
	}
	// Bound what one response may make us read; a front that sends more is broken.
	p.limit.N = maxResponseHead + int64(max(window, maxDecoyBody))
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: read response: %w", Name, err)
	}
	defer resp.Body.Close()
	c.SawHeader(resp.Header)
	if resp.StatusCode != http.StatusOK {
		if p.answered {
			return 0, fmt.Errorf("%s: %w: the front answered %q", Name, ErrSessionGone, resp.Status)
		}
		// The site's page: the gateway has not accepted the session (yet). Skip it;
		// a page too long to skip costs the connection, not the session.
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxDecoyBody+1))
		if err != nil || n > maxDecoyBody || resp.Close {
			c.setConn(nil)
			conn.Close()
		}
		return 0, nil
	}
	p.answered = true
	serverWindow, err := parseWindow(resp.Header.Get(hdrWindow))
	if err != nil {
		return 0, err
	}
	e, err := parseEnd(resp.Header.Get(hdrEnd))
	if err != nil {
		return 0, err
	}
	body, err := readBody(resp, p.resp[:window])
	if err != nil {
		return 0, err
	}
	if err := c.pipe.deliver(body, e); err != nil {
		return 0, err
	}
	p.serverWindow = serverWindow
	if resp.Close {
		c.setConn(nil)
		conn.Close()
	}
	return len(body), nil
}

// readBody reads a whole response body into buf, which it must fit.
func readBody(resp *http.Response, buf []byte) ([]byte, error) {
	if resp.ContentLength > int64(len(buf)) {
		return nil, fmt.Errorf("%w: a response of %d bytes to a window of %d", ErrProtocol, resp.ContentLength, len(buf))
	}
	if resp.ContentLength >= 0 {
		b := buf[:resp.ContentLength]
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, fmt.Errorf("%s: read response body: %w", Name, err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(len(buf))+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read response body: %w", Name, err)
	}
	if len(b) > len(buf) {
		return nil, fmt.Errorf("%w: a response body longer than the window of %d", ErrProtocol, len(buf))
	}
	return b, nil
}
