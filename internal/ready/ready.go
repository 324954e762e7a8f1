// Package ready waits for a program that a test, the lab or the bench started (nginx,
// obfs4proxy, a gateway process, unbound, redis) to be ready to serve, by asking it as
// a client would, never by sleeping a fixed time. It is for tests and tools, not for
// the gateway or the client.
package ready

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	dnsmsg "github.com/miekg/dns"
)

// pollInterval is how long a check that failed waits before the next try: short
// enough that a ready program is seen at once, long enough not to busy a core.
const pollInterval = 20 * time.Millisecond

// ErrExited is returned when the program exited before it was ready.
var ErrExited = errors.New("ready: the program exited before it was ready")

// Until calls check until it returns nil, the program exits (exited is closed or
// receives; nil means it is not watched), or ctx ends. The error says what the last
// check saw.
func Until(ctx context.Context, exited <-chan struct{}, check func(ctx context.Context) error) error {
	t := time.NewTimer(0)
	defer t.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return fmt.Errorf("%w (last check: %w)", ctx.Err(), last)
		case <-exited:
			return ErrExited
		case <-t.C:
		}
		if last = check(ctx); last == nil {
			return nil
		}
		t.Reset(pollInterval)
	}
}

// TCP waits until addr accepts a TCP connection.
func TCP(ctx context.Context, addr string, exited <-chan struct{}) error {
	err := Until(ctx, exited, func(ctx context.Context) error {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to accept: %w", addr, err)
	}
	return nil
}

// DNS waits until a DNS server on addr answers a query over UDP: "version.server" in
// class CHAOS, which a resolver answers itself without asking anyone else.
func DNS(ctx context.Context, addr string, exited <-chan struct{}) error {
	q := new(dnsmsg.Msg)
	q.SetQuestion("version.server.", dnsmsg.TypeTXT)
	q.Question[0].Qclass = dnsmsg.ClassCHAOS
	err := Until(ctx, exited, func(ctx context.Context) error {
		c := &dnsmsg.Client{Net: "udp", Timeout: time.Second}
		_, _, err := c.ExchangeContext(ctx, q, addr)
		return err
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to answer DNS: %w", addr, err)
	}
	return nil
}
