package session

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
)

// TestStaleResumeHelloKeepsTheHeldTicket: a client abandons a resume whose hello is
// on its way (its deadline passed, or its turn went to another carrier), resumes on
// another carrier with the same ticket, and gets a new one. The gateway reads the
// abandoned hello only then, before the client's first frame on the new carrier
// arrives, and honours it: it cannot tell it from a client that never read the new
// ticket. It must still honour the ticket the client now holds, or the client's next
// resume is refused and the session is lost once its grace period ends.
func TestStaleResumeHelloKeepsTheHeldTicket(t *testing.T) {
	checkGoroutines(t)
	c := carriers[1] // TCP keeps the abandoned hello in flight, as a relay would
	p := newDetachedPair(t, c, nil)
	heldBefore := bytes.Clone(p.client.client.ticket)
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()

	// The abandoned resume: its hello is sent, and the client gives up at once.
	staleC, staleS := c.pair(t)
	defer staleC.Close()
	defer staleS.Close()
	actx, abandon := context.WithCancel(ctx)
	if err := p.client.Resume(actx, &cancelAfterWrite{Conn: staleC, cancel: abandon}, p.cc); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("abandoned resume: %v, want ErrNoAnswer", err)
	}
	if !bytes.Equal(p.client.client.ticket, heldBefore) {
		t.Fatal("an abandoned resume changed the client's ticket")
	}

	// The resume that works, whose first frames the gateway has not read yet.
	nextC, nextS := c.pair(t)
	gated := &gatedConn{Conn: nextC, gate: make(chan struct{})}
	if cerr, serr := resumeOnce(t, p.client, gated, nextS, p.cc, p.sc); cerr != nil || serr != nil {
		t.Fatalf("resume: client error %v, gateway error %v", cerr, serr)
	}
	carrier := p.client.CarrierDone()

	// The abandoned hello reaches the gateway now.
	sess, outcome, err := Server(ctx, staleS, p.sc)
	if err != nil || outcome != Resumed || sess != p.server {
		t.Fatalf("abandoned hello read late: %v, %v; want the session resumed", outcome, err)
	}
	staleC.Close() // the client closed it when it gave up
	<-carrier      // the gateway took the session off the client's carrier
	gated.open()

	if a := p.attempt(t, c, p.cc, p.sc); a.cerr != nil || a.serr != nil {
		t.Fatalf("resume with the ticket the client holds: client error %v, gateway error %v", a.cerr, a.serr)
	}
	if err := echoOnce(p.client, 1000); err != nil {
		t.Fatal(err)
	}
}

// cancelAfterWrite cancels a handshake's context once its hello is written.
type cancelAfterWrite struct {
	net.Conn
	cancel context.CancelFunc
}

func (c *cancelAfterWrite) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.cancel()
	return n, err
}

// gatedConn lets its first write (the hello) through and holds the others until
// open or Close, so that the gateway hears nothing from the client on it.
type gatedConn struct {
	net.Conn
	gate   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	writes int
}

func (c *gatedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	first := c.writes == 1
	c.mu.Unlock()
	if !first {
		<-c.gate
	}
	return c.Conn.Write(p)
}

func (c *gatedConn) open() { c.once.Do(func() { close(c.gate) }) }

func (c *gatedConn) Close() error {
	c.open()
	return c.Conn.Close()
}
