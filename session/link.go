package session

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// The link is the resumable byte stream between the stream mux and the record layer.
// It numbers the bytes of the session stream, keeps those the peer has not
// acknowledged, and carries the stream over one carrier at a time. When a carrier dies
// the link is detached: the mux does not notice, its reads wait and its writes fill
// the buffer, until a new carrier is attached and the unacknowledged bytes are sent
// again. A stream's Write sends its frames itself when no writer runs (writeInline),
// so on a carrier that is stuck but not yet replaced one Write waits in the carrier's
// write until the watchdog replaces it; its frames are in the buffer all the same,
// and other Writes fill the buffer meanwhile.

const (
	// DefaultResumeBuffer bounds the unacknowledged bytes of each direction when a
	// config says 0: four of the mux's largest stream windows.
	DefaultResumeBuffer = 4 << 20
	// MinResumeBuffer is one record's worth of stream data, rounded up: a smaller
	// configured buffer is raised to it, since it would stall a stream on every write.
	MinResumeBuffer = 64 << 10
	// closeFlushTimeout bounds how long Close tries to send what is buffered and the
	// close frame on a carrier that may be stuck.
	closeFlushTimeout = 2 * time.Second
)

// Progress is what a client's data-plane watchdog needs to tell a dead carrier from
// a slow one.
type Progress struct {
	// Unacked is how many bytes the session wrote that the gateway has not
	// acknowledged.
	Unacked uint64
	// PingOutstanding is true while a ping sent on the current carrier is unanswered.
	PingOutstanding bool
	// LastProgress is the last time an acknowledgement advanced, a ping was answered,
	// a carrier was attached, or data started waiting when none was: with data
	// waiting, the time since it is how long the carrier has been stuck.
	LastProgress time.Time
	// SRTT and RTTVar are the smoothed round-trip time of pings and its variation
	// (RFC 6298's estimator), zero before the first sample.
	SRTT, RTTVar time.Duration
	// PingSent is when the outstanding ping was sent; zero when none is.
	PingSent time.Time
}

var (
	errPeerClosed = fmt.Errorf("%w by the peer", ErrClosed)
	errDropped    = errors.New("session: carrier dropped by its user")
)

type link struct {
	limit int
	acct  *account // the gateway's budget: a slowed session gets less room
	// Hooks, set before the first attach and called without mu held.
	onDetach func(cause error) // a carrier died and none replaced it
	onFatal  func(cause error) // the session must end: a violation, or the peer closed

	mu       sync.Mutex
	changed  sync.Cond // with mu: a carrier attached or the link ended
	room     signal    // with mu: the same, for the stream mux's frame writers
	buf      sendBuffer
	sentMax  uint64      // the highest stream offset handed to any carrier
	recvd    uint64      // bytes of the peer's stream delivered to the mux
	cur      *attachment // nil while detached
	writer   chan struct{}
	err      error // why the link ended; nil while it lives
	srtt     time.Duration
	rttvar   time.Duration
	idle     time.Duration // the idle keepalive's interval
	progress time.Time
	pings    uint64 // ping numbers used so far, across carriers
}

// attachment is one carrier's time in the link. Fields after done are guarded by the
// link's mu.
type attachment struct {
	l       *link
	rc      *recordConn
	dead    chan struct{} // closed when the carrier leaves the link
	done    chan struct{} // closed when the carrier's writing is over for good
	confirm func()        // called once, at the peer's first frame; may be nil

	writing    bool        // a writer goroutine runs (writeLoop)
	finished   bool        // done is closed
	timer      *time.Timer // kicks the writer when an ack or a ping falls due
	timerAt    time.Time   // when timer fires; zero when it is not set
	batch      batch       // the writer's, reused from one run to the next
	heard      bool
	sendOff    uint64 // next stream offset to send
	sendHi     uint64 // end of what the writer has taken to send
	offsetSent bool
	rxOff      uint64 // stream offset of the next data byte from the peer
	rxKnown    bool   // the peer has said where its data starts
	ackSent    uint64 // received count in the last ack sent
	acked0     bool   // an ack was sent on this carrier
	ackDue     bool
	ackAt      time.Time // a delayed ack is due; zero when none
	echo       uint64    // ping to answer; 0 when none
	ping       uint64    // ping outstanding; 0 when none
	pingAt     time.Time
	lastPing   time.Time
	lastData   time.Time // when data last arrived on this carrier
	lastHeard  time.Time // when any record last arrived on this carrier
	closing    bool      // the link ended: send what is buffered and a close frame
	closeSent  bool
}

func newLink(limit int, acct *account) *link {
	if limit <= 0 {
		limit = DefaultResumeBuffer
	}
	l := &link{limit: max(limit, MinResumeBuffer), acct: acct, idle: DefaultIdlePing}
	l.buf.acct = acct
	l.changed.L = &l.mu
	return l
}

// kick has a's writer look for work: it starts one unless one runs, which looks
// again before it returns. l.mu held.
func (a *attachment) kick() {
	if a.writing || a.finished {
		return
	}
	a.writing = true
	go a.l.writeLoop(a)
}

// idleLocked ends a writer that found nothing to do, with the timer set to kick the
// next one in wait, when an ack or a ping is due. l.mu held.
func (a *attachment) idleLocked(wait time.Duration) {
	a.writing = false
	a.armLocked(time.Now().Add(wait))
}

// armLocked sets a's timer to kick a writer at at. l.mu held.
func (a *attachment) armLocked(at time.Time) {
	a.timerAt = at
	wait := max(time.Until(at), 0)
	if a.timer == nil {
		a.timer = time.AfterFunc(wait, func() {
			a.l.mu.Lock()
			a.timerAt = time.Time{}
			a.kick()
			a.l.mu.Unlock()
		})
		return
	}
	a.timer.Reset(wait)
}

// dueLocked has a writer look for work by at, when an ack falls due then: a
// writer running sees it anyway, and an idle one is kicked by the timer, not
// started now to set it (one goroutine's start and wake-up per message a chat
// receives). l.mu held.
func (a *attachment) dueLocked(at time.Time) {
	if a.writing || a.finished || (!a.timerAt.IsZero() && !a.timerAt.After(at)) {
		return
	}
	a.armLocked(at)
}

// finishLocked ends a's writing for good: no writer starts again, and done closes.
// l.mu held.
func (a *attachment) finishLocked() {
	a.writing = false
	if a.finished {
		return
	}
	a.finished = true
	if a.timer != nil {
		a.timer.Stop()
	}
	close(a.done)
}

// retireLocked takes a out of the link's writing: a writer that runs finishes when it
// next looks for work; with none running, a is finished now. l.mu held.
func (a *attachment) retireLocked() {
	if !a.writing {
		a.finishLocked()
	}
}

// attach makes rc the link's carrier, replacing the current one if any. The peer has
// received peerReceived bytes of our stream; sending resumes there, or at the first
// byte not yet acknowledged if that is later.
func (l *link) attach(rc *recordConn, peerReceived uint64, confirm func()) error {
	a := &attachment{l: l, rc: rc, dead: make(chan struct{}), done: make(chan struct{}), confirm: confirm}
	rc.control = func(c control) error { return l.control(a, c) }
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return l.err
	}
	if peerReceived > l.buf.end {
		l.mu.Unlock()
		return fmt.Errorf("%w: peer says it received %d bytes of %d sent", errViolation, peerReceived, l.buf.end)
	}
	l.buf.ack(peerReceived)
	a.sendOff = max(peerReceived, l.buf.acked)
	old, prev := l.cur, l.writer
	l.cur, l.writer = a, a.done
	if old != nil {
		close(old.dead)
		old.retireLocked()
	}
	l.progress = time.Now()
	l.changed.Broadcast()
	l.room.notify()
	a.writing = true
	l.mu.Unlock()
	if old != nil {
		old.rc.Close()
	}
	if prev == nil {
		// No writer to wait for: the first frames (the offset, the first ack) go from
		// this goroutine, sparing a goroutine's start and wake-up per handshake.
		l.sendInline(a)
		return nil
	}
	go func() {
		// One writer at a time: the old one may still be reading the buffer's chunks.
		<-prev
		l.writeLoop(a)
	}()
	return nil
}

// detach takes a out of the link if it is still the carrier, and closes it.
func (l *link) detach(a *attachment, cause error) {
	l.mu.Lock()
	if l.cur != a {
		l.mu.Unlock()
		return
	}
	l.cur = nil
	close(a.dead)
	a.retireLocked()
	l.mu.Unlock()
	a.rc.Close()
	l.onDetach(cause)
}

// failed handles an error from a carrier: a violation or the peer's close ends the
// session, anything else only detaches the carrier.
func (l *link) failed(a *attachment, err error) {
	if errors.Is(err, errViolation) || errors.Is(err, errPeerClosed) {
		l.onFatal(err)
		return
	}
	l.detach(a, err)
}

// drop detaches the current carrier, if any.
func (l *link) drop(cause error) {
	l.mu.Lock()
	a := l.cur
	l.mu.Unlock()
	if a != nil {
		l.detach(a, cause)
	}
}

// end ends the link for good: blocked reads and writes fail with err. With notify,
// the carrier (if any) first gets what is buffered and a close frame, within
// closeFlushTimeout.
func (l *link) end(err error, notify bool) {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return
	}
	l.err = err
	a := l.cur
	l.cur = nil
	if a != nil && notify {
		a.closing = true
		a.kick()
	} else if a != nil {
		a.retireLocked()
	}
	l.changed.Broadcast()
	l.room.notify()
	writer := l.writer
	l.mu.Unlock()
	if a != nil {
		if notify {
			a.rc.conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
			<-a.done
		}
		close(a.dead)
		a.rc.Close()
	}
	if writer != nil {
		<-writer
	}
	l.mu.Lock()
	l.buf.release()
	l.mu.Unlock()
}

// Read gives the stream mux the next bytes of the peer's stream, waiting while detached.
func (l *link) Read(p []byte) (int, error) {
	for {
		a, err := l.carrier()
		if err != nil {
			return 0, err
		}
		n, err := a.rc.Read(p)
		if n > 0 {
			if n, err = l.deliver(a, p[:n]); n > 0 {
				return n, nil
			}
		}
		if err != nil {
			l.failed(a, err)
		}
	}
}

func (l *link) carrier() (*attachment, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.cur == nil && l.err == nil {
		l.changed.Wait()
	}
	if l.err != nil {
		return nil, l.err
	}
	return l.cur, nil
}

// deliver counts p, just read from a, into the stream. Bytes the link already has
// (sent again after a resume) are cut from p; so is everything from a carrier that
// is no longer the link's. It returns how many new bytes p now starts with.
func (l *link) deliver(a *attachment, p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != a {
		return 0, nil
	}
	if !a.rxKnown {
		return 0, fmt.Errorf("%w: data before an offset frame", errViolation)
	}
	start := a.rxOff
	a.rxOff += uint64(len(p))
	if a.rxOff <= l.recvd {
		return 0, nil
	}
	n := len(p)
	if skip := int(l.recvd - start); skip > 0 { // start ≤ recvd: an offset frame past it is refused
		n = copy(p, p[skip:]) // a resume sent some again: cut what the link has
	}
	l.recvd += uint64(n)
	a.lastData = time.Now()
	a.lastHeard = a.lastData
	if l.recvd-a.ackSent >= ackEvery {
		a.ackDue = true
		a.kick()
	} else if a.ackAt.IsZero() {
		a.ackAt = time.Now().Add(ackDelay)
		a.dueLocked(a.ackAt)
	}
	return n, nil
}

func (l *link) progressReport() Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := Progress{Unacked: uint64(l.buf.unacked()), LastProgress: l.progress, SRTT: l.srtt, RTTVar: l.rttvar}
	if l.cur != nil && l.cur.ping != 0 {
		p.PingOutstanding, p.PingSent = true, l.cur.pingAt
	}
	return p
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (l *link) carrierDone() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return closedChan
	}
	return l.cur.dead
}

func (l *link) attached() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur != nil
}

// offsets returns how much of the peer's stream the link has received, and how much
// of its own it has written.
func (l *link) offsets() (received, written uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recvd, l.buf.end
}

func (l *link) sampleRTT(rtt time.Duration) {
	l.mu.Lock()
	l.addSample(rtt)
	l.mu.Unlock()
}

// addSample folds an RTT sample into srtt and rttvar as RFC 6298 section 2 does
// (alpha = 1/8, beta = 1/4).
func (l *link) addSample(rtt time.Duration) {
	if l.srtt == 0 {
		l.srtt, l.rttvar = rtt, rtt/2
		return
	}
	dev := l.srtt - rtt
	if dev < 0 {
		dev = -dev
	}
	l.rttvar += (dev - l.rttvar) / 4
	l.srtt += (rtt - l.srtt) / 8
}

// setIdlePing makes d the idle keepalive's interval; the carrier's writer looks again
// at when its next ping is due.
func (l *link) setIdlePing(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.idle = d
	if l.cur != nil {
		l.cur.kick()
	}
}
