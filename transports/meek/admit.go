package meek

import (
	"context"
	"net"
	"time"

	"github.com/umbrella-edge/edge/transports/admission"
)

// longAgo is a deadline that has certainly passed.
var longAgo = time.Unix(1, 0)

// admitted is a new connection's place in the listener's pool, held until its first
// request's head is read. A newcomer to a full pool may push it out: its TLS
// handshake or head read then ends at once, and it is cut off as nginx cuts off a
// peer that ran out of its client_header_timeout.
type admitted struct {
	conn   net.Conn        // the accepted conn, marking the place active on its first bytes
	ctx    context.Context // ends at the head deadline, or at eviction
	cancel context.CancelFunc
	ticket *admission.Ticket
}

// admit takes c in, with nginx's one timer for the TLS handshake and the first
// request's head armed from accept.
func (l *listener) admit(c net.Conn) *admitted {
	deadline := time.Now().Add(headerTimeout)
	c.SetReadDeadline(deadline)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	a := &admitted{ctx: ctx, cancel: cancel}
	a.ticket = l.pool.Admit(c, func() { cancel(); c.SetReadDeadline(longAgo) })
	a.conn = a.ticket.Watch(c, nil)
	return a
}

// release gives the place back and reports whether the connection may go on: false
// when it was evicted. Calls after the first report the same.
func (a *admitted) release() bool {
	a.cancel()
	return !a.ticket.Release()
}

// visitor is a connection that the decoy site has answered and meek never has: a
// browser's, or a prober's. While it waits for its next request, or takes the decoy
// for the rest of the connection, it counts among the gateway's held peers, so that
// a flood of keep-alive visitors cannot pile up; a meek answer makes it a session's
// (or a front's pooled connection) and ends the count.
type visitor struct {
	pool    *admission.Pool
	conn    net.Conn
	release func() // set while counted
	meek    bool
}

// wait counts the connection, once, unless meek has answered on it; false means the
// gateway is draining and the connection is to close.
func (v *visitor) wait() bool {
	if v.meek || v.release != nil {
		return true
	}
	release, ok := v.pool.Hold(func() { v.conn.Close() })
	v.release = release
	return ok
}

// leave ends the count: meek answered, or the connection is closing.
func (v *visitor) leave() {
	v.meek = true
	if v.release != nil {
		v.release()
		v.release = nil
	}
}
