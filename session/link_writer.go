package session

import (
	"fmt"
	"time"
)

// AckDelay is the longest a receiver holds an acknowledgement back: a watchdog that
// waits for one allows for it on top of the round trip.
const AckDelay = 50 * time.Millisecond

const (
	// ackEvery and ackDelay: a receiver acknowledges every 32 KiB, and at most 50 ms
	// after unacknowledged data arrived, so the sender's buffer drains at line rate
	// and a watchdog sees progress within a fraction of a second.
	ackEvery = 32 << 10
	ackDelay = AckDelay
	// DefaultIdlePing (session_config.go) is the keepalive of a carrier with nothing
	// outstanding. While data waits for its acknowledgement, pings go every two
	// SRTTs, within busyPingMin and busyPingMax, so a carrier frozen in one direction
	// shows up as no progress.
	busyPingMin = 50 * time.Millisecond
	busyPingMax = time.Second
	// recentData keeps the busy ping rate for a while after data arrived: a peer
	// that only receives has nothing of its own waiting, yet a carrier frozen
	// towards it must show up as no progress within seconds, not at the idle ping.
	recentData = 10 * time.Second
	// carrierTimeout: a ping unanswered this long, with no acknowledgement either,
	// means the carrier is dead (the client's watchdog usually decides much sooner).
	carrierTimeout = 30 * time.Second
	// maxBatch is what a writer takes from the buffer for one carrier write: four
	// full records, 64 KiB on the wire with the control records before them.
	maxBatch = 4 * maxSendData
)

// batch is one round of the writer's work.
type batch struct {
	ctl  []control
	data [][]byte
	n    int           // data bytes
	wait time.Duration // when idle: how long until something is due
	stop bool          // the carrier left the link
	dead bool          // the carrier timed out
}

// writeLoop is a carrier's only writer: acks, pings and data all go through it, so
// the reader never waits on the carrier's send side (two readers each blocked
// writing an ack to a peer that is not reading would deadlock). It runs while there
// is work, one at a time (kick starts it, or writeInline runs it in a stream
// writer's goroutine), and returns when there is none, with a's timer set for when
// some is due: an idle carrier holds no goroutine for writing.
func (l *link) writeLoop(a *attachment) {
	for l.writeBatch(a, l.failed) {
	}
}

// maxInlineBatches bounds what a stream's Write sends in its own goroutine: its own
// frames and what came with them; a writer goroutine takes over the rest.
const maxInlineBatches = 4

// writeInline sends what the link holds from the caller's goroutine when no writer
// runs, sparing a goroutine's start and wake-up per burst: a stream's Write calls it
// once its frames are in, holding no lock, since it waits on the carrier.
func (l *link) writeInline() {
	l.mu.Lock()
	a := l.cur
	if a == nil || a.writing || a.finished {
		l.mu.Unlock()
		return // detached (the next carrier's writer sends it), or a writer runs
	}
	a.writing = true
	l.mu.Unlock()
	l.sendInline(a)
}

// sendInline is a writer's turn on a, taken by the caller (a.writing set), run in
// the caller's goroutine for up to maxInlineBatches; a writer goroutine takes over
// what is left.
func (l *link) sendInline(a *attachment) {
	// A carrier failing here is handled on a goroutine of its own, as the writer's
	// would be: the hooks it calls are not for a stream's Write (or a handshake) to
	// wait on.
	failed := func(a *attachment, err error) { go l.failed(a, err) }
	for range maxInlineBatches {
		if !l.writeBatch(a, failed) {
			return
		}
	}
	go l.writeLoop(a)
}

// writeBatch sends one batch of what is due on a, and reports whether the writer
// should look again; when it returns false it has ended its turn (a.writing is
// false). A carrier that fails goes to failed.
func (l *link) writeBatch(a *attachment, failed func(*attachment, error)) bool {
	b := &a.batch
	*b = batch{ctl: b.ctl[:0], data: b.data[:0]}
	l.mu.Lock()
	closing := a.closing
	if closing {
		l.closingWork(a, b)
	} else {
		l.work(a, time.Now(), b)
	}
	switch {
	case b.stop:
		a.finishLocked()
		l.mu.Unlock()
		return false
	case b.dead:
		a.finishLocked()
		l.mu.Unlock()
		failed(a, fmt.Errorf("session: carrier timed out: no answer to a ping for %v", carrierTimeout))
		return false
	case len(b.ctl) == 0 && b.n == 0:
		a.idleLocked(b.wait)
		l.mu.Unlock()
		return false
	}
	l.mu.Unlock()
	_, err := a.rc.send(b.ctl, b.data)
	l.mu.Lock()
	if b.n > 0 {
		l.buf.unhold()
	}
	// The batch outlives this run: chunks it still pointed to could not be freed
	// once the buffer gave them back, and an idle carrier would keep them.
	clear(b.data)
	if err == nil {
		a.sendOff = max(a.sendOff, a.sendHi)
	} else {
		a.finishLocked()
	}
	l.mu.Unlock()
	if err != nil {
		if !closing {
			failed(a, err)
		}
		return false
	}
	return true
}

// work fills b with what is due on a at now: an ack, a ping, data.
func (l *link) work(a *attachment, now time.Time, b *batch) {
	if l.cur != a {
		b.stop = true
		return
	}
	// An ack is due at once, by its timer, or when data goes out anyway and the
	// ack can ride in the same write.
	dataGoes := max(a.sendOff, l.buf.acked) < l.buf.end
	if !a.acked0 || a.ackDue || a.echo != 0 || (!a.ackAt.IsZero() && (!now.Before(a.ackAt) || dataGoes)) {
		b.ctl = append(b.ctl, control{typ: frameAck, a: l.recvd, b: a.echo})
		a.ackSent, a.acked0, a.ackDue, a.echo, a.ackAt = l.recvd, true, false, 0, time.Time{}
	}
	if a.ping == 0 {
		if !now.Before(l.nextPing(a)) {
			l.pings++
			a.ping, a.pingAt, a.lastPing = l.pings, now, now
			b.ctl = append(b.ctl, control{typ: framePing, a: a.ping})
		}
	} else if now.Sub(a.pingAt) > carrierTimeout && now.Sub(l.progress) > carrierTimeout {
		b.dead = true
		return
	}
	l.takeData(a, b)
	b.wait = l.idle
	if a.ping == 0 {
		b.wait = min(b.wait, max(l.nextPing(a).Sub(now), 0))
	}
	if !a.ackAt.IsZero() {
		b.wait = min(b.wait, a.ackAt.Sub(now))
	}
	if a.ping == 0 {
		b.wait = min(b.wait, l.nextPing(a).Sub(now))
	} else {
		b.wait = min(b.wait, a.pingAt.Add(carrierTimeout).Sub(now)+time.Millisecond)
	}
	b.wait = max(b.wait, time.Millisecond)
}

// closingWork fills b with the rest of the buffer, then with the close frame, then
// stops.
func (l *link) closingWork(a *attachment, b *batch) {
	switch {
	case max(a.sendOff, l.buf.acked) < l.buf.end:
		l.takeData(a, b)
	case !a.closeSent:
		a.closeSent = true
		b.ctl = append(b.ctl, control{typ: frameClose})
	default:
		b.stop = true
	}
}

// takeData fills b with buffered data from where a's peer needs it. That is where a
// left off, unless acknowledgements (still arriving on a carrier being replaced)
// passed it: then an offset frame says where the data jumps to, as one does before
// a carrier's first data.
func (l *link) takeData(a *attachment, b *batch) {
	from := max(a.sendOff, l.buf.acked)
	if from >= l.buf.end {
		return
	}
	if !a.offsetSent || from != a.sendOff {
		b.ctl = append(b.ctl, control{typ: frameOffset, a: from})
		a.offsetSent, a.sendOff = true, from
	}
	b.data = l.buf.slices(b.data, from, maxBatch-controlWire(b.ctl))
	l.buf.hold(from)
	for _, d := range b.data {
		b.n += len(d)
	}
	a.sendHi = from + uint64(b.n)
	l.sentMax = max(l.sentMax, a.sendHi)
}

// nextPing is when a's next ping is due: at once on a new carrier (an RTT sample and
// a liveness check), soon while data waits or has just arrived, and otherwise l.idle
// after the last ping or the last word from the peer, whichever came later: a peer's
// own pings keep an idle carrier alive without an answering ping of ours.
func (l *link) nextPing(a *attachment) time.Time {
	if a.lastPing.IsZero() {
		return time.Time{}
	}
	if l.buf.unacked() == 0 && time.Since(a.lastData) > recentData {
		last := a.lastPing
		if a.lastHeard.After(last) {
			last = a.lastHeard
		}
		return last.Add(l.idle)
	}
	return a.lastPing.Add(min(max(2*l.srtt, busyPingMin), busyPingMax))
}

// control handles a control frame read from a, in order with its data. An error ends
// reading from a (and, being a violation or the peer's close, the session).
func (l *link) control(a *attachment, c control) error {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return l.err // the link ended: the buffer is gone, nothing more to handle
	}
	current := l.cur == a
	a.lastHeard = time.Now()
	var confirm func()
	if current && !a.heard {
		a.heard, confirm = true, a.confirm
	}
	err := l.handleControl(a, current, c)
	l.mu.Unlock()
	if confirm != nil {
		confirm()
	}
	return err
}

func (l *link) handleControl(a *attachment, current bool, c control) error {
	switch c.typ {
	case frameAck:
		if c.a > l.sentMax {
			return fmt.Errorf("%w: ack of %d bytes, only %d sent", errViolation, c.a, l.sentMax)
		}
		if c.a > l.buf.acked {
			l.buf.ack(c.a)
			l.progress = time.Now()
			l.room.notify()
		}
		if current && c.b != 0 && c.b == a.ping {
			now := time.Now()
			l.addSample(now.Sub(a.pingAt))
			a.ping, l.progress = 0, now
			a.kick()
		}
	case framePing:
		if current {
			a.echo = c.a
			a.kick()
		}
	case frameOffset:
		if c.a > l.recvd {
			return fmt.Errorf("%w: data resumes at offset %d, past the %d bytes received", errViolation, c.a, l.recvd)
		}
		a.rxOff, a.rxKnown = c.a, true
	case frameClose:
		return errPeerClosed
	}
	return nil
}
