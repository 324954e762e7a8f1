// Package backend holds stand-ins for the messaging backend, for the demo, tests and
// benchmarks: a relay of length-prefixed messages (standing for the MLS delivery
// service), an echo service, and a source that sends without end (for a hoarding client).
// None is part of a deployment.
package backend

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// MaxMessage bounds one relayed message, so a peer cannot make the relay allocate
// without limit.
const MaxMessage = 1 << 20

// WriteMessage writes one length-prefixed message (4-byte big-endian length, then bytes).
func WriteMessage(w io.Writer, msg []byte) error {
	if len(msg) > MaxMessage {
		return fmt.Errorf("message of %d bytes exceeds %d", len(msg), MaxMessage)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(msg)))
	if _, err := w.Write(append(hdr[:], msg...)); err != nil {
		return err
	}
	return nil
}

// ReadMessage reads one length-prefixed message.
func ReadMessage(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxMessage {
		return nil, fmt.Errorf("message length %d exceeds %d", n, MaxMessage)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, fmt.Errorf("read message body: %w", err)
	}
	return msg, nil
}

// Relay sends every message it receives on one connection to all its other connections,
// the way a delivery service fans a group message out to the group's members.
type Relay struct {
	// OnMessage, if set, is called for every message relayed, with its size and the
	// number of connections it went to.
	OnMessage func(size, fanout int)

	mu    sync.Mutex
	conns map[net.Conn]*sync.Mutex // each conn's write lock
}

// Serve relays on the connections ln accepts until ctx is done or ln closes.
func (r *Relay) Serve(ctx context.Context, ln net.Listener) error {
	return serve(ctx, ln, r.handle)
}

func (r *Relay) handle(c net.Conn) {
	r.mu.Lock()
	if r.conns == nil {
		r.conns = make(map[net.Conn]*sync.Mutex)
	}
	r.conns[c] = new(sync.Mutex)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReader(c)
	for {
		msg, err := ReadMessage(br)
		if err != nil {
			return
		}
		r.mu.Lock()
		fanout := 0
		for other, wmu := range r.conns {
			if other == c {
				continue
			}
			fanout++
			wmu.Lock()
			WriteMessage(other, msg)
			wmu.Unlock()
		}
		r.mu.Unlock()
		if r.OnMessage != nil {
			r.OnMessage(len(msg), fanout)
		}
	}
}

// Echo writes back everything each connection sends, and half-closes when it ends.
type Echo struct{}

// Serve echoes on the connections ln accepts until ctx is done or ln closes.
func (Echo) Serve(ctx context.Context, ln net.Listener) error {
	return serve(ctx, ln, func(c net.Conn) {
		defer c.Close()
		EchoConn(c)
	})
}

// EchoConn writes back what c sends until c ends, then half-closes c. It copies through
// a small buffer on purpose: io.Copy between two TCP conns would splice(2) through a
// pipe pair, two more descriptors per connection, and the benchmarks hold thousands of
// echo connections under RLIMIT_NOFILE.
func EchoConn(c net.Conn) {
	buf := make([]byte, 4<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
}

func serve(ctx context.Context, ln net.Listener, handle func(net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	live := map[net.Conn]bool{}
	defer func() {
		mu.Lock()
		for c := range live {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		mu.Lock()
		live[c] = true
		mu.Unlock()
		wg.Go(func() {
			handle(c)
			mu.Lock()
			delete(live, c)
			mu.Unlock()
		})
	}
}
