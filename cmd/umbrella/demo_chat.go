package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/internal/backend"
)

// chatter is one user: a client given every bridge line, and one stream to the relay.
type chatter struct {
	name    string
	client  *client.Client
	conn    net.Conn
	events  chan timedEvent
	watched chan struct{} // closed when watch has told every event
	moved   chan error    // nil for each resumption, the error when the session ended
	// cutAt is when the censor cut this chatter's carrier (unix ns), 0 once it moved.
	cutAt    atomic.Int64
	sent     atomic.Int64
	received atomic.Int64

	mu   sync.Mutex
	used []string // the transports that carried the session, in order
}

type timedEvent struct {
	client.Event
	at time.Time
}

// close ends the stream and the client, then waits until its events are told.
func (c *chatter) close() {
	c.conn.Close()
	c.client.Close() // no event comes after it returns
	close(c.events)
	<-c.watched
}

func (c *chatter) path() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.used, " → ")
}

// watch tells what the client does, as it happens: suspecting a carrier and raising a
// spare beside it, losing a carrier, resuming on another, and (which would be a
// failure here) a session that could not be resumed.
func (c *chatter) watch(d *demo) {
	defer close(c.watched)
	var tried []string
	var noticed time.Time // when the client suspected or lost its carrier
	for e := range c.events {
		switch e.Kind {
		case client.EventAttempt:
			tried = append(tried, e.Name)
		case client.EventSuspected:
			d.say("%-9s suspects %s %s (%v); raising a spare beside it", c.name, e.Name, c.sinceCut(e.at), e.Err)
			tried, noticed = nil, e.at
		case client.EventRecovered:
			d.say("%-9s %s recovered; spare closed", c.name, e.Name)
			tried, noticed = nil, time.Time{}
		case client.EventLost:
			d.say("%-9s lost %s %s: %v", c.name, e.Name, c.sinceCut(e.at), e.Err)
			if noticed.IsZero() {
				tried, noticed = nil, e.at
			}
		case client.EventBlocked:
			d.say("%-9s every bridge failed for now; retrying in %v", c.name, e.Retry.Round(time.Millisecond))
		case client.EventResumed:
			c.mu.Lock()
			c.used = append(c.used, e.Name)
			c.mu.Unlock()
			when := ""
			if cut, ok := c.cut(); ok {
				when = " " + human(e.at.Sub(cut)) + " after the cut"
			}
			d.say("%-9s moved to %s%s (%s after noticing; tried %s); session resumed, chat stream kept",
				c.name, e.Name, when, human(e.at.Sub(noticed)), strings.Join(tried, ", "))
			tried, noticed = nil, time.Time{}
			c.cutAt.Store(0)
			c.tellMove(nil)
		case client.EventActive:
			c.mu.Lock()
			first := len(c.used) == 0
			c.used = append(c.used, e.Name)
			c.mu.Unlock()
			if !first {
				c.tellMove(fmt.Errorf("%s: a new session on %s replaced the one that could not resume, and the chat stream with it", c.name, e.Name))
			}
		case client.EventEnded:
			c.tellMove(fmt.Errorf("%s: the session ended: %w", c.name, e.Err))
		}
	}
}

func (c *chatter) tellMove(err error) {
	select {
	case c.moved <- err:
	default: // nobody waits for this move; watch has told it already
	}
}

// sinceCut says when at was: "310 ms after the cut", or that there was none.
func (c *chatter) sinceCut(at time.Time) string {
	if cut, ok := c.cut(); ok {
		return human(at.Sub(cut)) + " after the cut"
	}
	return "with no cut from the censor"
}

// cut returns when the censor cut c's carrier, if it did and c has not moved since.
func (c *chatter) cut() (time.Time, bool) {
	ns := c.cutAt.Load()
	return time.Unix(0, ns), ns != 0
}

// connect starts a client whose bridge lines follow prefer (transports first named
// first), and opens its stream to the relay.
func (d *demo) connect(ctx context.Context, w *world, name string, prefer []string) (*chatter, error) {
	bridges := slices.Clone(w.bridges)
	rank := func(b bridge.Line) int {
		if i := slices.Index(prefer, b.Transport); i >= 0 {
			return i
		}
		return len(prefer)
	}
	slices.SortStableFunc(bridges, func(a, b bridge.Line) int { return rank(a) - rank(b) })
	c := &chatter{name: name, events: make(chan timedEvent, 1024), watched: make(chan struct{}), moved: make(chan error, 16)}
	cl, err := client.New(client.Config{
		Bridges: bridges, Transports: w.registry, Logger: d.log.With("side", name),
		// Events come from the client's loop and must not wait: a full buffer (a
		// demo that stopped reading) loses them rather than stalling the client.
		OnEvent: func(e client.Event) {
			select {
			case c.events <- timedEvent{e, time.Now()}:
			default:
			}
		},
	})
	if err != nil {
		return nil, err
	}
	c.client = cl
	t0 := time.Now()
	if c.conn, err = cl.Dial(ctx, "mls"); err != nil {
		cl.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go c.watch(d)
	d.say("%-9s connected through %s in %v (post-quantum session, gateway key pinned); %d bridge lines, %s first",
		name, cl.Active(), time.Since(t0).Round(time.Millisecond), len(bridges), bridges[0].Transport)
	return c, nil
}

// chat is alice and bob sending each other numbered messages every chatInterval,
// each checking that what arrives is the next number: nothing lost, duplicated or
// reordered, or the demo fails.
type chat struct {
	d         *demo
	a, b      *chatter
	stop      context.CancelFunc
	senders   sync.WaitGroup
	receivers sync.WaitGroup
	failed    chan error
}

func (d *demo) startChat(ctx context.Context, a, b *chatter) *chat {
	ch := &chat{d: d, a: a, b: b, failed: make(chan error, 4)}
	var sendCtx context.Context
	sendCtx, ch.stop = context.WithCancel(ctx)
	for _, pair := range [][2]*chatter{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		ch.senders.Go(func() { ch.send(sendCtx, from) })
		ch.receivers.Go(func() { ch.receive(from, to) })
	}
	return ch
}

func (ch *chat) fail(err error) {
	select {
	case ch.failed <- err:
	default:
	}
}

func (ch *chat) send(ctx context.Context, from *chatter) {
	tick := time.NewTicker(chatInterval)
	defer tick.Stop()
	for seq := int64(1); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		msg := fmt.Sprintf("%d|%d|message %d from %s", seq, time.Now().UnixNano(), seq, from.name)
		if err := backend.WriteMessage(from.conn, []byte(msg)); err != nil {
			ch.fail(fmt.Errorf("%s send message %d: %w", from.name, seq, err))
			return
		}
		from.sent.Store(seq)
	}
}

// receive reads what from sent to, in order, until to's stream closes. Messages held
// up by a cut arrive in a burst once the session resumes; a burst is told in one line,
// when the first message on time follows it.
func (ch *chat) receive(from, to *chatter) {
	r := bufio.NewReader(to.conn)
	var heldFrom, heldTo int64
	var heldMost time.Duration
	for want := int64(1); ; want++ {
		raw, err := backend.ReadMessage(r)
		if err != nil {
			if want <= from.sent.Load() {
				ch.fail(fmt.Errorf("%s: stream ended before message %d from %s: %w", to.name, want, from.name, err))
			}
			return
		}
		var seq, sentAt int64
		if _, err := fmt.Sscanf(string(raw), "%d|%d|", &seq, &sentAt); err != nil {
			ch.fail(fmt.Errorf("%s received a garbled message %q", to.name, raw))
			return
		}
		if seq != want {
			ch.fail(fmt.Errorf("%s received message %d from %s where %d was due: lost, duplicated or reordered", to.name, seq, from.name, want))
			return
		}
		to.received.Store(seq)
		if held := time.Since(time.Unix(0, sentAt)); held > time.Second {
			if heldFrom == 0 {
				heldFrom = seq
			}
			heldTo, heldMost = seq, max(heldMost, held)
			continue
		}
		route := fmt.Sprintf("%-5s ─[%s]→ relay ─[%s]→ %-5s", from.name, orNone(from.client.Active()), orNone(to.client.Active()), to.name)
		if heldFrom != 0 {
			ch.d.say("chat      %s %s, held up to %.1f s by the cut: delivered in order, none lost",
				route, messageRange(heldFrom, heldTo), heldMost.Seconds())
			heldFrom, heldMost = 0, 0
		}
		ch.d.say("chat      %s %q", route, raw[strings.LastIndexByte(string(raw), '|')+1:])
	}
}

func messageRange(first, last int64) string {
	if first == last {
		return fmt.Sprintf("message %d", first)
	}
	return fmt.Sprintf("messages %d–%d", first, last)
}

func orNone(transport string) string {
	if transport == "" {
		return "…"
	}
	return transport
}

// waitEach waits until each side has received n more messages than now.
func (ch *chat) waitEach(ctx context.Context, n int64) error {
	return ch.waitFor(ctx, ch.a.received.Load()+n, ch.b.received.Load()+n)
}

// waitFor waits until alice has received aGot of bob's messages and bob bGot of alice's.
func (ch *chat) waitFor(ctx context.Context, aGot, bGot int64) error {
	ctx, cancel := context.WithTimeout(ctx, moveGuard)
	defer cancel()
	for ch.a.received.Load() < aGot || ch.b.received.Load() < bGot {
		select {
		case err := <-ch.failed:
			return err
		case <-ctx.Done():
			return fmt.Errorf("chat stalled: alice has %d of bob's messages (want %d), bob %d of alice's (want %d): %w",
				ch.a.received.Load(), aGot, ch.b.received.Load(), bGot, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// close ends both streams and waits for the receivers to stop.
func (ch *chat) close() {
	ch.stop()
	ch.a.conn.Close()
	ch.b.conn.Close()
	ch.receivers.Wait()
}

// finish stops sending and waits until every message sent has arrived.
func (ch *chat) finish(ctx context.Context) error {
	ch.stop()
	ch.senders.Wait()
	if err := ch.waitFor(ctx, ch.b.sent.Load(), ch.a.sent.Load()); err != nil {
		return err
	}
	select {
	case err := <-ch.failed:
		return err
	default:
		return nil
	}
}
