package session

import "errors"

// Errors a caller branches on.
var (
	// ErrAuth: the gateway did not prove the pinned identity (wrong key, or a
	// man in the middle). Shown to a person as "this bridge is not who it claims".
	ErrAuth = errors.New("session: gateway authentication failed")
	// ErrNoAnswer: the carrier closed or timed out during the handshake, which is what a
	// client sees when its secret is wrong, its hello was rejected, or a censor cut it.
	ErrNoAnswer = errors.New("session: gateway did not answer the handshake")
	// ErrUnknownService: the gateway has no backend service of that name.
	ErrUnknownService = errors.New("session: unknown service")
	// ErrServiceUnavailable: the gateway could not reach the backend service.
	ErrServiceUnavailable = errors.New("session: service unavailable")
	// ErrStreamLimit: the session has as many streams open as the gateway allows,
	// opens them faster than it allows, or holds more than its share of the
	// gateway's memory while it is short. Retry later.
	ErrStreamLimit = errors.New("session: too many streams")
	// ErrRecord: a record failed authentication or was malformed; the session is dead.
	ErrRecord = errors.New("session: bad record")
	// ErrClosed: the session is closed.
	ErrClosed = errors.New("session: closed")
	// ErrResumeRejected: the gateway no longer has the session (its grace period
	// passed, it was closed, or the gateway restarted). The session has ended; open a
	// new one.
	ErrResumeRejected = errors.New("session: gateway rejected the resumption")
)

// HelloError is returned by Server when a peer does not open a valid session. The
// gateway must answer it with nothing distinguishable (Consumed goes to the decoy).
type HelloError struct {
	// Reason is a short label for metrics: "short", "mark", "stale", "replay",
	// "unchecked" (the replay cache could not be consulted), "version" (a hello of
	// another protocol version), "malformed", "ticket" (a resume hello whose ticket or
	// binder is not valid, or whose ticket was already used), "timeout".
	Reason string
	// Consumed holds every byte read from the carrier.
	Consumed []byte
	Err      error
}

func (e *HelloError) Error() string {
	if e.Err == nil {
		return "session: bad hello (" + e.Reason + ")"
	}
	return "session: bad hello (" + e.Reason + "): " + e.Err.Error()
}

func (e *HelloError) Unwrap() error { return e.Err }

func helloError(reason string, consumed []byte, err error) *HelloError {
	return &HelloError{Reason: reason, Consumed: consumed, Err: err}
}

// errMalformed is wrapped by every failure to parse what a peer sent (hellos, tickets,
// records, frames); errVersion also by a hello body of a protocol version other than
// ours.
var (
	errMalformed = errors.New("malformed message")
	errVersion   = errors.New("unsupported protocol version")
)

// errViolation marks what only an authenticated peer could have done wrong: a frame
// that opened correctly but breaks the protocol. It ends the session, where a carrier
// failure only detaches it.
var errViolation = errors.New("protocol violation")
