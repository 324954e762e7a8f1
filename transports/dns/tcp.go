package dns

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// DNS over TCP (RFC 7766): a resolver whose answer was truncated asks again over TCP,
// and some ask over TCP from the start. Each message has a two-byte length before it;
// answers may come out of order, and a held query does not stop the next being read.
const (
	// tcpIdle closes a connection that sent no query for this long, as BIND's and
	// NSD's defaults do (RFC 7766 section 6.2.3 suggests seconds).
	tcpIdle = 10 * time.Second
	// maxTCPConns bounds the connections served at once; more are closed at once.
	maxTCPConns = 256
)

func (l *listener) acceptTCP() {
	for {
		c, err := l.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !l.trackTCP(c) {
			c.Close()
			continue
		}
		go l.serveTCP(c)
	}
}

// trackTCP records c as served, unless the server stopped or is at maxTCPConns.
func (l *listener) trackTCP(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if isDone(l.stopped) || len(l.tcps) >= maxTCPConns {
		return false
	}
	l.tcps[c] = struct{}{}
	return true
}

// serveTCP reads queries from c until it closes, idles or sends a message it cannot
// frame.
func (l *listener) serveTCP(c net.Conn) {
	defer func() {
		l.mu.Lock()
		delete(l.tcps, c)
		l.mu.Unlock()
		c.Close()
	}()
	var wmu sync.Mutex
	send := func(b []byte) {
		msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(b)), uint16(len(b)))
		wmu.Lock()
		defer wmu.Unlock()
		c.SetWriteDeadline(time.Now().Add(tcpIdle))
		c.Write(append(msg, b...))
	}
	var size [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(tcpIdle))
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		raw := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, raw); err != nil {
			return
		}
		l.handle(raw, true, send)
	}
}
