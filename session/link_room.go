package session

import (
	"errors"
	"fmt"
	"time"
)

// The stream mux writes whole frames into the link: a frame is appended at once or
// not at all, so frames of different streams never interleave, and a writer waits
// for room on a channel it can abandon (a deadline, a cancelled open).

var (
	// errWaitCancelled: the caller's cancel channel closed while it waited for room.
	errWaitCancelled = errors.New("session: wait for send buffer room cancelled")
	// errSendBufferFull: control frames, which never wait, have grown the buffer to
	// twice its bound; only a peer that stops acknowledging and keeps sending does
	// that.
	errSendBufferFull = errors.New("session: send buffer full: the peer does not acknowledge")
)

// signal wakes every goroutine waiting at the time: a waiter takes wait's channel
// under its owner's lock, notify closes it. It holds nothing until someone waits.
type signal struct{ ch chan struct{} }

func (s *signal) wait() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) notify() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// waitRoom waits until at least need more bytes fit under the link's bound, the link
// ends, or cancel closes, and returns how many fit.
func (l *link) waitRoom(need int, cancel <-chan struct{}) (int, error) {
	l.mu.Lock()
	for l.err == nil && l.roomLocked() < need {
		if l.cur != nil {
			l.cur.kick() // what the caller appended and has not sent makes the room
		}
		room := l.room.wait()
		l.mu.Unlock()
		select {
		case <-room:
		case <-cancel:
			return 0, errWaitCancelled
		}
		l.mu.Lock()
	}
	room, err := l.roomLocked(), l.err
	l.mu.Unlock()
	return room, err
}

// roomLocked is how many more bytes data frames may add: up to the link's bound, or,
// while the gateway's budget slows the session, up to MinResumeBuffer. It waits for
// acknowledgements then, which a session that has this much unacknowledged will get.
func (l *link) roomLocked() int {
	limit := l.limit
	if l.acct.slowed() {
		limit = min(limit, MinResumeBuffer)
	}
	return limit - l.buf.unacked()
}

// appendFrame appends the concatenation of v to the session stream, whole, without
// waiting. Data frames call waitRoom first and fit under the bound; control frames
// (credit, end of stream, open) are small and never wait, so they may pass it by
// their size: the mux's reader must not wait for room, since it reads the
// acknowledgements that make it, and a stream's Read or Close should not either.
func (l *link) appendFrame(v ...[]byte) error {
	return l.append(true, v)
}

// appendData is appendFrame for a stream's data frames, leaving the sending to the
// caller: it calls writeInline once it holds no lock, and before it waits for
// anything (waitRoom sees to that itself).
func (l *link) appendData(v ...[]byte) error {
	return l.append(false, v)
}

func (l *link) append(kick bool, v [][]byte) error {
	n := 0
	for _, b := range v {
		n += len(b)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.buf.unacked()+n > 2*l.limit {
		return fmt.Errorf("%w (%d bytes)", errSendBufferFull, l.buf.unacked())
	}
	if l.buf.unacked() == 0 {
		l.progress = time.Now() // the watchdog's clock starts now
	}
	for _, b := range v {
		l.buf.append(b)
	}
	if kick && l.cur != nil {
		l.cur.kick()
	}
	return nil
}
