package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// chatMessage is the size of one chat message: a sequence number and a body derived
// from it, so an echo that is cut, duplicated or from another message shows.
const chatMessage = 64

// Chatter is one messenger user: a stream to the echo service carrying a numbered
// message every period, each checked when it comes back.
type Chatter struct {
	conn   net.Conn
	period time.Duration
	stop   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	stopped  bool        // Stop was called: no message is sent after
	sentAt   []time.Time // by sequence number
	received int
	echoed   chan struct{} // closed and replaced at each echo and at the first fault
	rtts     []time.Duration
	err      error // the first fault: a write or read that failed, a wrong echo
}

// StartChat opens a stream through d and starts chatting on it.
func StartChat(ctx context.Context, d interface {
	Dial(context.Context, string) (net.Conn, error)
}, period time.Duration) (*Chatter, error) {
	conn, err := d.Dial(ctx, Service)
	if err != nil {
		return nil, fmt.Errorf("lab: chat: %w", err)
	}
	c := &Chatter{conn: conn, period: period, stop: make(chan struct{}), echoed: make(chan struct{})}
	c.wg.Go(c.write)
	c.wg.Go(c.read)
	return c, nil
}

// ChatResult is what one chatter saw.
type ChatResult struct {
	Sent, Received int
	RTTs           []time.Duration // one per message echoed
	Err            error
}

// Stop stops sending, waits up to drain for the echoes still due, and reports.
func (c *Chatter) Stop(drain time.Duration) ChatResult {
	// Under mu, so that a message is either counted before Stop looks at what is due,
	// or never sent: one the writer started after Stop closed the conn would show as a
	// write that failed.
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	close(c.stop)
	timeout := time.NewTimer(drain)
	defer timeout.Stop()
	for {
		c.mu.Lock()
		done, echoed := c.received == len(c.sentAt) || c.err != nil, c.echoed
		c.mu.Unlock()
		if done {
			break
		}
		select {
		case <-echoed:
			continue
		case <-timeout.C:
		}
		break
	}
	c.conn.Close()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return ChatResult{Sent: len(c.sentAt), Received: c.received, RTTs: c.rtts, Err: c.err}
}

func (c *Chatter) write() {
	tick := time.NewTicker(c.period)
	defer tick.Stop()
	for seq := uint64(0); ; seq++ {
		select {
		case <-tick.C:
		case <-c.stop:
			return
		}
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			return
		}
		c.sentAt = append(c.sentAt, time.Now())
		c.mu.Unlock()
		if _, err := c.conn.Write(chatBody(seq)); err != nil {
			c.fail(fmt.Errorf("message %d: write: %w", seq, err))
			return
		}
	}
}

func (c *Chatter) read() {
	got := make([]byte, chatMessage)
	for seq := uint64(0); ; seq++ {
		if _, err := io.ReadFull(c.conn, got); err != nil {
			select {
			case <-c.stop: // closed by Stop
			default:
				c.fail(fmt.Errorf("message %d: read the echo: %w", seq, err))
			}
			return
		}
		if !bytes.Equal(got, chatBody(seq)) {
			c.fail(fmt.Errorf("message %d: the echo is message %d or garbled", seq, binary.BigEndian.Uint64(got)))
			return
		}
		c.mu.Lock()
		c.received++
		c.rtts = append(c.rtts, time.Since(c.sentAt[seq]))
		close(c.echoed)
		c.echoed = make(chan struct{})
		c.mu.Unlock()
	}
}

func (c *Chatter) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
		close(c.echoed)
		c.echoed = make(chan struct{})
	}
	c.mu.Unlock()
}

// chatBody is message seq as sent.
func chatBody(seq uint64) []byte {
	b := make([]byte, chatMessage)
	binary.BigEndian.PutUint64(b, seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(seq) + byte(i)
	}
	return b
}
