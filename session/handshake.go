package session

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// zeroNonce seals both hellos: each hello key is used for exactly one message.
var zeroNonce [12]byte

// readFailure names a failed read of the hello for metrics.
func readFailure(err error) string {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "short"
}

// bindContext makes conn's blocking calls obey ctx, its deadline and its
// cancellation, until the returned func is called; that func leaves conn with no
// deadline, so whoever uses conn next (a session, a decoy) starts clean.
func bindContext(ctx context.Context, conn net.Conn) (release func()) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired // it ran, or is running: let it finish before the reset
		}
		conn.SetDeadline(time.Time{})
	}
}

// contextError is ctx.Err, also when the carrier's deadline fired a moment before
// ctx's own timer did.
func contextError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func nowFunc(f func() time.Time) time.Time {
	if f == nil {
		return time.Now()
	}
	return f()
}

func unixSeconds(t time.Time) uint64 {
	if s := t.Unix(); s > 0 {
		return uint64(s)
	}
	return 0
}

func (c *ClientConfig) check() error {
	if c == nil {
		return errors.New("session: nil client config")
	}
	if len(c.GatewayKey) != ed25519.PublicKeySize {
		return fmt.Errorf("session: gateway key of %d bytes, want %d", len(c.GatewayKey), ed25519.PublicKeySize)
	}
	return checkEndpoint(c.Endpoint)
}

func (c *ServerConfig) check() error {
	switch {
	case c == nil:
		return errors.New("session: nil server config")
	case len(c.Identity) != ed25519.PrivateKeySize:
		return fmt.Errorf("session: identity key of %d bytes, want %d", len(c.Identity), ed25519.PrivateKeySize)
	case len(c.Secrets) == 0:
		return errors.New("session: no bridge secrets configured")
	case c.Replay == nil:
		return errors.New("session: no replay cache configured")
	}
	return checkEndpoint(c.Endpoint)
}

// handshakeResult is what either handshake hands to the session.
type handshakeResult struct {
	id    ID
	keys  sessionKeys
	state State
	// rs is the resumption secret of the ticket issued on this carrier; ticket is
	// the ticket itself, on the client (nil when the gateway keeps no sessions).
	rs     [32]byte
	ticket []byte
	// peerReceived is how much of our stream the peer has: sending starts there.
	peerReceived uint64
	rtt          time.Duration // the client's hello round trip, a first RTT sample
	// On the gateway, a resume hello's session, and what confirms the new ticket.
	resumed *Session
	confirm func()
}

// Outcome is what Server made of a valid client hello.
type Outcome uint8

const (
	// Opened: a new session. The caller serves its streams (AcceptStream) until it
	// ends.
	Opened Outcome = iota + 1
	// Resumed: a resume hello re-attached a live session, which now owns the
	// carrier. Its streams are already served by whoever serves them since it opened.
	Resumed
)

func (o Outcome) String() string {
	switch o {
	case Opened:
		return "opened"
	case Resumed:
		return "resumed"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Server runs the gateway side of the handshake on conn, a freshly accepted carrier.
// It reads no more than the client hello, and writes nothing unless the hello is
// valid: for anything else it returns a *HelloError holding every byte it read, and
// the caller still owns conn. When ctx ends first, the reason is "timeout".
//
// A valid hello gives a session that owns conn: a new one (Opened), or the live one in
// cfg.Sessions that a resume hello named (Resumed). If that session is gone, the client
// is told so and the error wraps ErrResumeRejected; the caller still owns conn.
func Server(ctx context.Context, conn net.Conn, cfg *ServerConfig) (*Session, Outcome, error) {
	if err := cfg.check(); err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, helloError("timeout", nil, err)
	}
	release := bindContext(ctx, conn)
	res, err := serverHandshake(ctx, conn, cfg)
	release()
	if err != nil {
		var he *HelloError
		if errors.As(err, &he) && he.Reason == "short" && contextError(ctx) != nil {
			he.Reason, he.Err = "timeout", fmt.Errorf("%w (%w)", he.Err, contextError(ctx))
		}
		return nil, 0, err
	}
	if res.resumed != nil {
		if err := res.resumed.reattach(conn, &res, cfg); err != nil {
			return nil, 0, err
		}
		return res.resumed, Resumed, nil
	}
	maxStreams := cfg.MaxStreams
	if maxStreams <= 0 {
		maxStreams = DefaultMaxStreams
	}
	grace := cfg.ResumeGrace
	if grace <= 0 {
		grace = DefaultResumeGrace
	}
	sess, err := newSession(conn, res, sessionOptions{
		server:     true,
		maxStreams: maxStreams,
		buffer:     cfg.ResumeBuffer,
		store:      cfg.Store,
		registry:   cfg.Sessions,
		grace:      grace,
		budget:     cfg.Budget,
		openRate:   cfg.StreamOpenRate,
		openBurst:  cfg.StreamOpenBurst,
		now:        cfg.Now,
	})
	if err != nil {
		return nil, 0, err
	}
	return sess, Opened, nil
}

// DefaultMaxStreams bounds a session's open streams when a config says 0.
const DefaultMaxStreams = 256
