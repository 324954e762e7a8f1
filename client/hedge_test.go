package client_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
	"github.com/umbrella-edge/edge/transports/utls"
)

// pausableTCP is the tcp transport whose carriers stop delivering the gateway's bytes
// while paused, and deliver them all once resumed: a carrier stuck for a while that
// then recovers, as a congested or briefly blackholed path does.
type pausableTCP struct {
	transports.Transport
	mu     sync.Mutex
	paused chan struct{} // closed to resume; nil while running
}

func (p *pausableTCP) pause() {
	p.mu.Lock()
	p.paused = make(chan struct{})
	p.mu.Unlock()
}

func (p *pausableTCP) resume() {
	p.mu.Lock()
	close(p.paused)
	p.paused = nil
	p.mu.Unlock()
}

func (p *pausableTCP) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

func (p *pausableTCP) NewDialer(addr string, args transports.Args) (transports.Dialer, error) {
	d, err := p.Transport.NewDialer(addr, args)
	return dialerFunc(func(ctx context.Context) (net.Conn, error) {
		conn, err := d.Dial(ctx)
		if err != nil {
			return nil, err
		}
		return &pausableConn{Conn: conn, p: p, closed: make(chan struct{})}, nil
	}), err
}

type pausableConn struct {
	net.Conn
	p      *pausableTCP
	once   sync.Once
	closed chan struct{}
}

func (c *pausableConn) Read(b []byte) (int, error) {
	if g := c.p.gate(); g != nil {
		select {
		case <-g:
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	return c.Conn.Read(b)
}

func (c *pausableConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

type dialerFunc func(context.Context) (net.Conn, error)

func (f dialerFunc) Dial(ctx context.Context) (net.Conn, error) { return f(ctx) }

// heldTransport holds every dial until its gate opens, whatever the dial's context
// says, as a dial already past its connect does; it tells when a carrier it made is
// closed.
type heldTransport struct {
	transports.Transport
	open   chan struct{}
	closed chan struct{} // receives once per carrier closed
}

func (g heldTransport) NewDialer(addr string, args transports.Args) (transports.Dialer, error) {
	d, err := g.Transport.NewDialer(addr, args)
	return dialerFunc(func(ctx context.Context) (net.Conn, error) {
		<-g.open
		conn, err := d.Dial(context.Background())
		if err != nil {
			return nil, err
		}
		return &closeSignal{Conn: conn, closed: g.closed}, nil
	}), err
}

type closeSignal struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *closeSignal) Close() error {
	c.once.Do(func() { c.closed <- struct{}{} })
	return c.Conn.Close()
}

// hedgeClient is a client of a gateway's tcp and utls bridges whose tcp carriers can
// be paused and whose utls dials wait for their gate.
func hedgeClient(t *testing.T) (*client.Client, *recorder, *pausableTCP, heldTransport) {
	t.Helper()
	bridges := startGateway(t, "tcp", "utls")
	pt := &pausableTCP{Transport: tcp.New()}
	spare := heldTransport{Transport: utls.New(nil), open: make(chan struct{}), closed: make(chan struct{}, 4)}
	c, rec := newClient(t, bridges, pt, spare)
	return c, rec, pt, spare
}

// stuckTransfer opens an echo stream, pauses the carrier, writes data and waits until
// the carrier is suspected and a utls spare is being dialled. The caller reads the
// echo back with readBack.
func stuckTransfer(t *testing.T, c *client.Client, rec *recorder, pt *pausableTCP) (net.Conn, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	conn, err := c.Dial(ctx, "echo")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(time.Minute)) // against a hang, not a timing check
	pt.pause()
	data := make([]byte, 256<<10)
	rand.Read(data)
	go conn.Write(data)
	rec.waitFor(t, client.EventSuspected)
	if a := rec.waitAfter(t, client.EventAttempt, 1); a.Name != "utls" {
		t.Fatalf("spare attempt on %s, want utls", a.Name)
	}
	return conn, data
}

func readBack(t *testing.T, conn net.Conn, data []byte) {
	t.Helper()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != string(data) {
		t.Fatalf("echo: %v (equal: %v)", err, string(got) == string(data))
	}
}

// A carrier stuck long enough to be suspected, that recovers before the spare is up,
// keeps the session: the spare is closed when it comes up, no move happens, and the
// transfer goes on byte for byte on the first carrier.
func TestHedgeClosesTheSpareWhenTheCarrierRecovers(t *testing.T) {
	checkLeaks(t)
	c, rec, pt, spare := hedgeClient(t)
	conn, data := stuckTransfer(t, c, rec, pt)
	pt.resume()
	rec.waitFor(t, client.EventRecovered)
	close(spare.open)
	select {
	case <-spare.closed:
	case <-time.After(hangTimeout):
		t.Fatal("the spare that came up after the carrier recovered was not closed")
	}
	readBack(t, conn, data)
	for _, e := range rec.all() {
		if e.Kind == client.EventLost || e.Kind == client.EventResumed || e.Kind == client.EventFailed {
			t.Errorf("a %v event: the carrier recovered, nothing should move or fail\nevents: %s", e.Kind, describe(rec.all()))
		}
	}
	if c.Active() != "tcp" {
		t.Errorf("Active() = %q, want tcp still", c.Active())
	}
}

// A carrier that stays stuck until the watchdog's hard limit is dropped, and the spare
// already on its way carries the session on once it is up, losing nothing.
func TestHedgeSpareCarriesOnAfterTheCarrierDies(t *testing.T) {
	checkLeaks(t)
	c, rec, pt, spare := hedgeClient(t)
	conn, data := stuckTransfer(t, c, rec, pt)
	lost := rec.waitFor(t, client.EventLost)
	var stall *client.StallError
	if lost.Name != "tcp" || !errors.As(lost.Err, &stall) {
		t.Fatalf("lost %s: %v; want tcp, stalled", lost.Name, lost.Err)
	}
	close(spare.open)
	if r := rec.waitFor(t, client.EventResumed); r.Name != "utls" {
		t.Errorf("resumed on %s, want the spare, utls", r.Name)
	}
	readBack(t, conn, data)
	pt.resume() // the dropped carrier's reader returns
	if n := count(rec.all(), client.EventAttempt); n != 2 {
		t.Errorf("%d attempts, want the first and the spare\nevents: %s", n, describe(rec.all()))
	}
}

func count(evs []client.Event, kind client.EventKind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}
