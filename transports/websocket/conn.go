package websocket

import (
	"context"
	"errors"
	"fmt"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/deadline"
	"io"
	"net"
	"sync"
	"time"

	ws "github.com/coder/websocket"
)

// chunkSize bounds one binary message written and one read handed out: a browser
// app's WebSocket messages are small, and reverse proxies and CDNs buffer per message.
const chunkSize = 32 << 10

// conn is a WebSocket carried as a net.Conn, with the deadline semantics net's own
// conns have: a read that times out leaves the conn usable. coder/websocket's
// NetConn closes the WebSocket when a deadline interrupts a read (a cancelled context
// is its only way to stop one), so a goroutine here reads messages ahead instead, one
// chunk at a time (TCP flow control does the rest), and Read waits for it with a
// deadline. A write interrupted by its deadline does close the conn, as with TLS: half
// a frame cannot be taken back.
type conn struct {
	ws                     *ws.Conn
	local, remote          net.Addr
	transports.ServerClock // the Upgrade's Date, on the client side

	closed       chan struct{}
	closeOnce    sync.Once
	writeCtx     context.Context // ends writes when Close is called
	cancelWrites context.CancelFunc
	readCtx      context.Context // ends the reader once the close handshake is over
	cancelRead   context.CancelFunc

	chunks   chan []byte   // from the reader goroutine to Read
	free     chan []byte   // buffers back to the reader goroutine
	readDone chan struct{} // closed when the reader goroutine ends
	readErr  error         // why it ended; set before readDone closes

	readMu sync.Mutex
	cur    []byte // what is left of the chunk Read is handing out
	curBuf []byte // that chunk's buffer, returned to free once cur is empty
	readDL *deadline.Deadline

	writeMu sync.Mutex
	writeDL *deadline.Deadline
	held    *heldWrites // the client's carrier; nil on the gateway's side
}

func newConn(c *ws.Conn, local, remote net.Addr) *conn {
	// Messages are read a chunk at a time, never whole, so their size costs no memory.
	c.SetReadLimit(-1)
	cn := &conn{
		ws:       c,
		local:    local,
		remote:   remote,
		closed:   make(chan struct{}),
		chunks:   make(chan []byte),
		free:     make(chan []byte, 2),
		readDone: make(chan struct{}),
		readDL:   new(deadline.Deadline),
		writeDL:  new(deadline.Deadline),
	}
	cn.writeCtx, cn.cancelWrites = context.WithCancel(context.Background())
	cn.readCtx, cn.cancelRead = context.WithCancel(context.Background())
	cn.free <- make([]byte, chunkSize)
	cn.free <- make([]byte, chunkSize)
	go cn.readMessages()
	return cn
}

// readMessages reads binary messages into chunks until the WebSocket ends. Reading all
// the time also answers the peer's pings and close frame.
func (c *conn) readMessages() {
	defer close(c.readDone)
	for {
		typ, r, err := c.ws.Reader(c.readCtx)
		if err != nil {
			c.readErr = c.readError(err)
			return
		}
		if typ != ws.MessageBinary {
			c.readErr = fmt.Errorf("websocket: the peer sent a %v message; the carrier takes binary ones only", typ)
			c.ws.CloseNow()
			return
		}
		for {
			var buf []byte
			select {
			case buf = <-c.free:
			case <-c.closed:
				c.readErr = net.ErrClosed
				return
			}
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case c.chunks <- buf[:n]:
				case <-c.closed:
					c.readErr = net.ErrClosed
					return
				}
			} else {
				c.free <- buf
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				c.readErr = c.readError(err)
				return
			}
		}
	}
}

// readError turns the end of a WebSocket into net.Conn terms: a normal close by the
// peer is io.EOF.
func (c *conn) readError(err error) error {
	switch {
	case isClosed(c.closed):
		return net.ErrClosed
	case ws.CloseStatus(err) == ws.StatusNormalClosure || ws.CloseStatus(err) == ws.StatusGoingAway:
		return io.EOF
	}
	return fmt.Errorf("websocket read: %w", err)
}

func (c *conn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	switch {
	case isClosed(c.closed):
		return 0, net.ErrClosed
	case c.readDL.Passed():
		return 0, deadline.TimeoutError("read", Name)
	case len(p) == 0:
		return 0, nil
	}
	if len(c.cur) == 0 {
		if c.curBuf != nil {
			c.free <- c.curBuf // never blocks: free holds every buffer there is
			c.curBuf = nil
		}
		select {
		case b := <-c.chunks:
			c.cur, c.curBuf = b, b[:cap(b)]
		case <-c.readDone:
			// chunks is unbuffered, so every chunk read was handed out before this.
			return 0, c.readErr
		case <-c.readDL.Done():
			return 0, deadline.TimeoutError("read", Name)
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

func (c *conn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	for {
		if isClosed(c.closed) {
			return n, net.ErrClosed
		}
		chunk := p[n:min(len(p), n+chunkSize)]
		if err := c.writeMessage(chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		if n == len(p) {
			return n, nil
		}
	}
}

// writeMessage sends one binary message, interrupted by the write deadline or Close.
func (c *conn) writeMessage(b []byte) error {
	ctx, cancel := context.WithCancel(c.writeCtx)
	defer cancel()
	interrupt := cancel
	if c.held != nil {
		// The held message goes out after coder's Write returns, when it no longer
		// watches ctx: a deadline then closes the WebSocket, as coder would have.
		interrupt = func() { cancel(); c.ws.CloseNow() }
	}
	if !c.writeDL.Arm(interrupt) {
		return deadline.TimeoutError("write", Name)
	}
	err := c.writeHeld(ctx, b)
	c.writeDL.Disarm()
	switch {
	case err == nil:
		return nil
	case c.writeDL.Passed():
		return deadline.TimeoutError("write", Name)
	case isClosed(c.closed):
		return net.ErrClosed
	}
	return fmt.Errorf("websocket write: %w", err)
}

// writeHeld writes one binary message, gathered into one write of the carrier on the
// client's side (heldWrites says why).
func (c *conn) writeHeld(ctx context.Context, b []byte) error {
	if c.held == nil {
		return c.ws.Write(ctx, ws.MessageBinary, b)
	}
	c.held.hold()
	err := c.ws.Write(ctx, ws.MessageBinary, b)
	if rerr := c.held.release(); err == nil {
		err = rerr
	}
	return err
}

// Close ends the conn at once for its user; the WebSocket close handshake, which
// waits for the peer's answer (up to seconds when the peer is gone), runs behind it.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		close(c.closed)
		c.cancelWrites()
		go func() {
			c.ws.Close(ws.StatusNormalClosure, "")
			c.cancelRead()
		}()
	})
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	c.readDL.Set(t)
	c.writeDL.Set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error  { c.readDL.Set(t); return nil }
func (c *conn) SetWriteDeadline(t time.Time) error { c.writeDL.Set(t); return nil }

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
