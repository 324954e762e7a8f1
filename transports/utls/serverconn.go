package utls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// serverConn is an accepted conn whose TLS handshake runs in the background, as nginx
// runs it (tlskit.ServerHandshake, within decoy.HeaderTimeout of accept), and which shows the
// decoy website when the gateway rejects its peer. Deadlines set before the handshake
// ends bound the caller's wait, not the handshake: a gateway giving up on a session
// must not cut a TLS handshake short of nginx's timeout, or a prober would see it.
type serverConn struct {
	raw   net.Conn
	decoy http.Handler
	log   *slog.Logger
	done  chan struct{} // closed when the handshake has ended
	// headDeadline is decoy.HeaderTimeout after accept: nginx's one timer for the
	// handshake and the first request's head.
	headDeadline time.Time

	mu       sync.Mutex
	tc       *tls.Conn // set when the handshake succeeded
	hsErr    error     // set when it failed
	finished bool
	readDL   time.Time
	writeDL  time.Time
	changed  chan struct{} // closed when a deadline changes before the handshake ends

	// watch follows the first bytes after the handshake: a whole HTTP request
	// there is a prober's (or a browser's), answered at once as nginx would.
	watch   decoy.HeadWatch
	request bool // watch saw a whole request; the next Read fails
}

// errWholeRequest ends the gateway's wait for a session hello when the peer sent a
// whole HTTP request instead, which nginx would answer without waiting for more.
var errWholeRequest = errors.New(Name + ": a whole HTTP request where a session should start")

func newServerConn(raw net.Conn, h http.Handler, log *slog.Logger) *serverConn {
	return &serverConn{
		raw: raw, decoy: h, log: log, done: make(chan struct{}), changed: make(chan struct{}),
		headDeadline: time.Now().Add(decoy.HeaderTimeout),
	}
}

func (c *serverConn) handshake(config *tls.Config) {
	ctx, cancel := context.WithDeadline(context.Background(), c.headDeadline)
	defer cancel()
	tc, err := tlskit.ServerHandshake(ctx, c.raw, config)
	c.mu.Lock()
	if err != nil {
		c.log.Debug("TLS handshake failed", "reason", handshakeFailure(err))
		c.hsErr = fmt.Errorf("%s: TLS handshake: %w", Name, err)
	} else {
		c.tc = tc
		tc.SetReadDeadline(c.readDL)
		tc.SetWriteDeadline(c.writeDL)
	}
	c.finished = true
	c.mu.Unlock()
	close(c.done)
}

// wait returns the handshake's result, or a timeout when the read (or write)
// deadline passes first.
func (c *serverConn) wait(read bool) (*tls.Conn, error) {
	for {
		c.mu.Lock()
		tc, err, finished := c.tc, c.hsErr, c.finished
		dl, changed := c.writeDL, c.changed
		if read {
			dl = c.readDL
		}
		c.mu.Unlock()
		if finished {
			return tc, err
		}
		if !dl.IsZero() && !time.Now().Before(dl) {
			return nil, os.ErrDeadlineExceeded
		}
		if !c.sleep(dl, changed) {
			return nil, os.ErrDeadlineExceeded
		}
	}
}

// sleep waits for the handshake's end or a deadline change, and reports false when
// dl (if set) passes first.
func (c *serverConn) sleep(dl time.Time, changed <-chan struct{}) bool {
	var expired <-chan time.Time
	if !dl.IsZero() {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-c.done:
	case <-changed:
	case <-expired:
		return false
	}
	return true
}

// HandshakeDone is closed when the TLS handshake has ended, either way.
func (c *serverConn) HandshakeDone() <-chan struct{} { return c.done }

// Read is only ever called by one goroutine at a time (the gateway's session), so
// the watch needs no lock.
func (c *serverConn) Read(p []byte) (int, error) {
	tc, err := c.wait(true)
	if err != nil {
		return 0, err
	}
	if c.request {
		return 0, errWholeRequest
	}
	n, err := tc.Read(p)
	c.request = c.watch.Feed(p[:n])
	return n, err
}

func (c *serverConn) Write(p []byte) (int, error) {
	tc, err := c.wait(false)
	if err != nil {
		return 0, err
	}
	return tc.Write(p)
}

// CloseWrite sends TLS's close_notify once the handshake is done, as tls.Conn does.
func (c *serverConn) CloseWrite() error {
	tc, err := c.wait(false)
	if err != nil {
		return err
	}
	return tc.CloseWrite()
}

// Close ends the conn, cutting a handshake under way.
func (c *serverConn) Close() error {
	c.mu.Lock()
	tc := c.tc
	c.mu.Unlock()
	if tc != nil {
		return tc.Close()
	}
	return c.raw.Close()
}

func (c *serverConn) LocalAddr() net.Addr  { return c.raw.LocalAddr() }
func (c *serverConn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

func (c *serverConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *serverConn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(&c.readDL, t, (*tls.Conn).SetReadDeadline)
}

func (c *serverConn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(&c.writeDL, t, (*tls.Conn).SetWriteDeadline)
}

func (c *serverConn) setDeadline(dl *time.Time, t time.Time, set func(*tls.Conn, time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		if c.tc == nil {
			return c.hsErr
		}
		return set(c.tc, t)
	}
	*dl = t
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

// Reject serves the decoy website over the TLS session, starting with the bytes the
// gateway already read from it, as an HTTPS server would answer them; the first
// request's head is due when nginx would want it, decoy.HeaderTimeout after accept. A
// peer whose handshake failed was answered as nginx answers it when it failed.
func (c *serverConn) Reject(prefix []byte) {
	<-c.done
	if c.tc == nil {
		return
	}
	c.tc.SetDeadline(time.Time{})
	decoy.ServeBy(c.tc, prefix, c.decoy, c.headDeadline)
}
