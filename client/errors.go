package client

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/umbrella-edge/edge/session"
)

// Errors a caller branches on.
var (
	// ErrAllBridgesFailed is wrapped by the error Dial returns when no bridge gave a
	// session. The client keeps retrying in the background.
	ErrAllBridgesFailed = errors.New("all bridges failed")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("client: closed")
	// ErrGatewayChanged ends a session whose carrier died when only a bridge to another
	// gateway answered: a session cannot move between gateways, so its streams fail.
	ErrGatewayChanged = errors.New("the session's gateway is unreachable; a new session was opened to another gateway and open streams were closed")
)

// Errors of the session layer that Dial passes on, named here so that an application,
// and the local proxies, branch on them without importing the session package. They
// are the session's own values: errors.Is matches either name.
var (
	// ErrNoAnswer: a gateway did not answer the session handshake, which is what a
	// client sees when its secret is wrong, its hello was rejected, or a censor cut it.
	ErrNoAnswer = session.ErrNoAnswer
	// ErrUnknownService: the gateway has no backend service of that name.
	ErrUnknownService = session.ErrUnknownService
	// ErrServiceUnavailable: the gateway could not reach the backend service.
	ErrServiceUnavailable = session.ErrServiceUnavailable
)

// BridgeError is one bridge's failure. Err is a *failure.Error when the client
// classified it (errors.As finds it), which says what is known in words a person can
// act on.
type BridgeError struct {
	Bridge    int
	Transport string
	Err       error
}

func (e *BridgeError) Error() string {
	return fmt.Sprintf("bridge %d (%s): %v", e.Bridge, e.Transport, e.Err)
}
func (e *BridgeError) Unwrap() error { return e.Err }

// ConnectError lists every bridge's failure in one round of attempts, by bridge index.
// It matches ErrAllBridgesFailed with errors.Is, and session.ErrAuth when any bridge's
// gateway failed to prove its key.
type ConnectError struct{ Failures []*BridgeError }

func (e *ConnectError) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = f.Error()
	}
	return fmt.Sprintf("%v: %s", ErrAllBridgesFailed, strings.Join(parts, "; "))
}

func (e *ConnectError) Unwrap() []error {
	errs := []error{ErrAllBridgesFailed}
	for _, f := range e.Failures {
		errs = append(errs, f)
	}
	return errs
}

// StallError is why the watchdog declared a carrier dead although its socket was open.
type StallError struct {
	Unacked uint64        // bytes sent and not acknowledged
	Ping    bool          // a ping was unanswered
	Stalled time.Duration // how long nothing moved
	Limit   time.Duration // the limit it passed, from the measured RTT
}

// Timeout reports true: a stall is a deadline passing, for failure.Classify.
func (e *StallError) Timeout() bool { return true }

func (e *StallError) Error() string {
	what := fmt.Sprintf("%d bytes unacknowledged", e.Unacked)
	if e.Unacked == 0 {
		what = "a ping unanswered"
	}
	return fmt.Sprintf("carrier stalled: %s for %v (limit %v)", what, e.Stalled.Round(time.Millisecond), e.Limit.Round(time.Millisecond))
}
