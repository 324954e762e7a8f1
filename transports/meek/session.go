package meek

import (
	"net"
	"time"
)

// session is the server side of one meek session: the conn Accept returned, and what
// the request handler remembers between the session's requests.
type session struct {
	id    string
	l     *listener
	conn  *serverConn
	busy  chan struct{} // holds a token while one of the session's requests is served
	timer *time.Timer   // expiry, reset by every request

	// Guarded by busy.
	spoke      bool // a 200 went out: the gateway accepted the peer
	eofSent    bool
	lastWindow int  // the window the last response announced
	lastDown   bool // the last response carried downstream bytes
}

// serverConn is the conn Accept returns for a session.
type serverConn struct {
	*pipe
	s *session
}

// Close ends the session for the gateway; the client learns it from the next response.
// Once the listener is closed too, nothing waits for that response: the session is
// forgotten at once, and a client still polling finds it gone. A draining gateway
// closes the peers it has not answered instead of rejecting them: those get the
// website, as a rejected peer does.
func (c *serverConn) Close() error {
	c.s.l.mu.Lock()
	closing := c.s.l.closing
	c.s.l.mu.Unlock()
	if !closing {
		return c.pipe.closePipe()
	}
	var err error
	if c.pipe.hasWritten() {
		err = c.pipe.closePipe()
	} else {
		err = c.pipe.reject()
	}
	c.s.remove()
	return err
}

// Reject answers the peer the gateway did not authenticate with the decoy website: the
// request that carried the rejected bytes is held until the gateway decides (see
// holdFor), so its answer is the site's, as were the answers before it and as are
// those after: a session's requests get 200 only once the gateway has spoken.
func (c *serverConn) Reject([]byte) {
	c.pipe.reject()
	c.s.l.forbid(c.s.id)
	c.s.remove()
}

// exchange runs one meek request: it finds or starts the session, hands the body to
// it, waits for downstream bytes as the hold rules say, and returns the response (from
// respPool). ok is false when the request gets the decoy website instead: until the
// gateway has something to say in a session (it accepted the peer), every answer is
// the site's, so a prober that opens sessions learns nothing.
func (l *listener) exchange(remote net.Addr, r meekRequest, body []byte) (resp *response, ok bool) {
	s, created := l.session(r, remote, body)
	if s == nil {
		return nil, false
	}
	hold := time.NewTimer(firstHold)
	defer hold.Stop()
	select {
	case s.busy <- struct{}{}:
	case <-hold.C:
		return nil, false // another request of the session is stuck: not a meek client
	}
	defer func() { <-s.busy }()
	s.timer.Stop()
	defer s.touch()

	p := s.conn.pipe
	if !created {
		if err := p.deliver(body, r.end); err != nil {
			l.log.Debug("session ends", "reason", err)
			p.fail(err)
			s.remove()
			return nil, false
		}
	}
	if r.end == endClose {
		s.remove() // the client sends nothing more
	}
	judging := !s.spoke && len(body) > 0
	hold.Reset(s.holdFor(r, len(body), created))
	clientWindow := min(r.window, maxResponseBody)
	for !s.ready(p, clientWindow, judging, hold.C) {
		// wait for downstream bytes, an end, or the end of the hold
	}
	if st, _ := p.state(); st.rejected || st.failed || !s.spoke && !st.hasNews(clientWindow) && !st.accepted() {
		return nil, false
	}
	resp = respPool.Get().(*response)
	n, e, window := p.take(resp.down[:clientWindow])
	window = min(window, maxRequestBody)
	s.spoke, s.lastWindow, s.lastDown = true, window, n > 0
	switch e {
	case endEOF:
		s.eofSent = true
	case endClose:
		s.remove() // this is the session's last response
	}
	resp.b = appendResponse(resp.b[:0], resp.down[:n], window, e)
	return resp, true
}

// accepted says the gateway took the session without writing: it read more than any
// hello (which fits one request body) and wants more. A gateway always answers a good
// hello, so only an application that never writes (an upload sink) gets here; it must
// still learn the client's window.
func (st snapshot) accepted() bool {
	return st.starved && st.consumed >= maxRequestBody
}

// hasNews says the pipe has something for a client that can take clientWindow bytes.
func (st snapshot) hasNews(clientWindow int) bool {
	return st.outLen > 0 && clientWindow > 0 || st.outLen == 0 && st.end != endNone
}

// holdFor is how long a request may wait for downstream bytes when there are none.
func (s *session) holdFor(r meekRequest, bodyLen int, created bool) time.Duration {
	switch {
	case r.end == endClose:
		return 0
	case !s.spoke && bodyLen > 0:
		// The gateway is judging the peer's bytes: hold the answer until it accepts
		// (writes) or rejects them, so that a rejected hello gets the decoy website
		// and an accepted one its answer at once.
		return firstHold
	case bodyLen == 0 && created:
		return 0 // the client's Dial waits for this answer
	case bodyLen == 0 && s.lastDown:
		// The client polls at once after bytes came: more may be on the way, but
		// its next message waits for this answer, so hold only briefly.
		return turnaround
	case bodyLen == 0:
		return pollHold
	case bodyLen >= min(maxRequestBody, s.lastWindow):
		return 0 // the client has more to send, or waits for the window
	}
	return turnaround
}

// ready waits for one change of p, or for the hold to end, and reports whether the
// response should go out now. judging says the gateway has not yet answered the
// peer's bytes.
func (s *session) ready(p *pipe, clientWindow int, judging bool, hold <-chan time.Time) bool {
	st, changed := p.state()
	switch {
	case st.rejected, st.failed:
		return true
	case st.outLen > 0 && clientWindow > 0:
		return true
	case st.outLen == 0 && st.end == endClose:
		return true
	case st.outLen == 0 && st.end == endEOF && !s.eofSent:
		return true
	case judging && st.starved:
		return true // the gateway read it all and wants more: let the client send it
	case s.spoke && s.lastWindow == 0 && st.window > 0:
		return true // the client waits for room
	}
	select {
	case <-changed:
		return false
	case <-hold:
		return true
	}
}

// session returns the session r names, starting one for a request with data. It
// returns nil when the request gets the decoy: an unknown session without data, or no
// room for another.
func (l *listener) session(r meekRequest, remote net.Addr, body []byte) (*session, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.sessions[r.id]; s != nil {
		return s, false
	}
	if r.end == endClose || l.closing || l.forbidden(r.id) {
		return nil, false
	}
	if len(l.sessions) >= l.maxSessions {
		l.log.Debug("session refused", "reason", "max-sessions")
		return nil, false
	}
	s := &session{id: r.id, l: l, busy: make(chan struct{}, 1)}
	s.conn = &serverConn{pipe: newPipe(l.tcp.Addr(), remote), s: s}
	// The body is in the pipe before Accept can return the conn, so the gateway reads
	// the whole first flight at once.
	s.conn.pipe.deliver(body, r.end)
	select {
	case l.accepted <- s.conn:
	default:
		l.log.Debug("session refused", "reason", "accept backlog full")
		return nil, false
	}
	s.timer = time.AfterFunc(l.expiry, s.expire)
	l.sessions[r.id] = s
	return s, true
}

// expire ends a session whose client went silent.
func (s *session) expire() {
	s.conn.pipe.fail(ErrExpired)
	s.remove()
}

// touch restarts the session's expiry, unless it has ended.
func (s *session) touch() {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if s.l.sessions[s.id] == s {
		s.timer.Reset(s.l.expiry)
	}
}

// remove forgets the session; its later requests get the decoy.
func (s *session) remove() {
	l := s.l
	l.mu.Lock()
	if l.sessions[s.id] == s {
		delete(l.sessions, s.id)
		s.timer.Stop()
	}
	l.mu.Unlock()
	l.shutdownIfIdle()
}

// forbid remembers a rejected session id for sessionExpiry, so that its later
// requests get the decoy website rather than a new session.
func (l *listener) forbid(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.rejected) >= l.maxSessions {
		for k, until := range l.rejected {
			if now.After(until) {
				delete(l.rejected, k)
			}
		}
	}
	if len(l.rejected) >= l.maxSessions {
		for k := range l.rejected { // still full: forget one at random
			delete(l.rejected, k)
			break
		}
	}
	l.rejected[id] = now.Add(l.expiry)
}

func (l *listener) forbidden(id string) bool {
	until, ok := l.rejected[id]
	return ok && time.Now().Before(until)
}
