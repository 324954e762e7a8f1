package client_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// lateTransport is tcp with the gateway's first answer on every carrier held back by
// delay, as from a gateway at capacity.
type lateTransport struct {
	transports.Transport
	delay time.Duration
}

func (l lateTransport) NewDialer(addr string, args transports.Args) (transports.Dialer, error) {
	d, err := l.Transport.NewDialer(addr, args)
	return lateDialer{d, l.delay}, err
}

type lateDialer struct {
	transports.Dialer
	delay time.Duration
}

func (d lateDialer) Dial(ctx context.Context) (net.Conn, error) {
	conn, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return &lateConn{Conn: conn, delay: d.delay}, nil
}

type lateConn struct {
	net.Conn
	delay  time.Duration
	waited bool
}

func (c *lateConn) Read(p []byte) (int, error) {
	if !c.waited {
		c.waited = true
		time.Sleep(c.delay) // the gateway's answer is late; this is the scenario, not a wait
	}
	return c.Conn.Read(p)
}

// A gateway that answers every hello later than the round trips' budget allows (2 s
// against the 1.5 s floor of a loopback path) is still reached: the bridge's budget
// doubles after each late answer, instead of cutting every attempt at the same short
// budget and coming back at once to add to the gateway's queue.
func TestALateGatewayIsReachedWithLongerBudgets(t *testing.T) {
	checkLeaks(t)
	bridges := startGateway(t, "tcp")
	c, rec := newClient(t, bridges, lateTransport{Transport: tcp.New(), delay: 2 * time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	for {
		err := c.Connect(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("never connected: %v\nevents: %s", err, describe(rec.all()))
		}
		// Every bridge failed this round; the next round comes after a backoff.
		rec.waitAfter(t, client.EventAttempt, len(rec.all()))
	}
	// Connect returns once the session is the client's; its event comes after.
	rec.waitFor(t, client.EventActive)
	_, failed, active := attempts(rec.all())
	if active != 0 || len(failed) == 0 {
		t.Errorf("failed %v, active %d; want the first attempt cut by its budget and a later one through\nevents: %s",
			failed, active, describe(rec.all()))
	}
}
