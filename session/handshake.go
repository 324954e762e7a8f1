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
	for _, k := range c.keys() {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("session: gateway key of %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
	}
	return checkEndpoint(c.Endpoint)
}

func (c *ServerConfig) check() error {
	switch {
	case c == nil:
		return errors.New("session: nil server config")
	case len(c.Identity) != ed25519.PrivateKeySize:
		return fmt.Errorf("session: identity key of %d bytes, want %d", len(c.Identity), ed25519.PrivateKeySize)
	case c.Rotation != nil && len(c.Rotation.Next) != ed25519.PrivateKeySize:
		return fmt.Errorf("session: next identity key of %d bytes, want %d", len(c.Rotation.Next), ed25519.PrivateKeySize)
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
	// next is, on the client, the identity key the gateway announced (signed) as its
	// next one; nil when it announced none.
	next ed25519.PublicKey
	// On the gateway, a resume hello's session, and what confirms the new ticket;
	// or relayed: the hello and its carrier went to the edge holding the session.
	resumed *Session
	confirm func()
	relayed bool
}
