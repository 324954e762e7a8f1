// Package failure names why an attempt to reach a gateway failed, from what the attempt
// saw (the step it reached, the error, the bytes that came back), in words a person can
// act on and in OONI's failure vocabulary. The client demotes what a censor blocks and
// explains failures with it; the probe tool gives its verdicts with it.
package failure

import (
	"fmt"
	"time"

	"github.com/umbrella-edge/edge/transports/trust"
)

// A Cause is what most likely made an attempt fail.
type Cause int

const (
	// Unknown: the attempt failed in a way the classifier does not recognise.
	Unknown Cause = iota
	// Refused: the connect was refused (a TCP RST to the SYN): nothing listens there,
	// or a censor answered for the address.
	Refused
	// Unreachable: the connect got no answer, or the network said there is no route:
	// the address is blocked or offline.
	Unreachable
	// Reset: the connection was reset after the client's first packet (for TLS, the
	// ClientHello): a censor reading server names, fingerprints or the first bytes;
	// or, while carrying data, a censor cutting it.
	Reset
	// Silent: the connection came up, the client's first packet went out, and nothing
	// came back: a censor dropping what it read (fully encrypted traffic, a shutdown
	// whitelist), or a gateway that did not recognise the hello.
	Silent
	// Frozen: bytes came back, then stopped while the connection stayed open: a
	// censor freezing connections after their first kilobytes (Russia, 2025), or
	// cutting one silently mid-flow. Error.Bytes tells them apart.
	Frozen
	// Website: the server answered the session hello as a website does: it is a web
	// server, or a gateway that did not accept the hello (a wrong secret or address,
	// or a clock too far off).
	Website
	// Closed: the server closed the connection without answering.
	Closed
	// Auth: the server answered but did not prove the bridge line's key: a wrong key=,
	// or someone intercepting the connection.
	Auth
	// ClockOff: the server's clock (an HTTP Date header) is further from the device's
	// than the gateway accepts, which explains a hello left unanswered.
	ClockOff
	// Certificate: the client refused the TLS server's certificate (Error.Reason says
	// why): someone intercepting TLS, as a censor with its own root CA does, or a
	// bridge line whose pin= or server name is wrong.
	Certificate
	// NoName: the bridge's host name does not exist (NXDOMAIN): a resolver that
	// censors names, or a wrong name.
	NoName
	// NoAnswer: the resolver gave no usable answer for the bridge's host name (a
	// timeout, a server failure).
	NoAnswer
)

var causeNames = [...]string{"unknown", "refused", "unreachable", "reset", "silent", "frozen",
	"website", "closed", "auth", "clock-off", "certificate", "no-name", "no-answer"}

func (c Cause) String() string {
	if c < 0 || int(c) >= len(causeNames) {
		return "unknown"
	}
	return causeNames[c]
}

// Censor reports whether c points at a censor acting on this kind of traffic rather
// than at one bridge: a reset after the first packet, silence after it, a freeze.
// Those are the patterns that, seen twice, condemn a whole family of transports.
func (c Cause) Censor() bool { return c == Reset || c == Silent || c == Frozen }

// OONI returns c in OONI's failure vocabulary (ooni/spec, data-formats/df-007-errors),
// where it has a name; otherwise "unknown_failure: " and c, as OONI writes failures it
// has no name for.
func (c Cause) OONI() string {
	switch c {
	case Refused:
		return "connection_refused"
	case Unreachable:
		return "generic_timeout_error"
	case Reset:
		return "connection_reset"
	case Silent, Frozen:
		return "generic_timeout_error"
	case Closed:
		return "eof_error"
	case Certificate:
		return "ssl_invalid_certificate"
	case NoName:
		return "dns_nxdomain_error"
	}
	return "unknown_failure: " + c.String()
}

// A Step is how far an attempt got.
type Step int

const (
	// StepConnect is the TCP connect, or the QUIC handshake.
	StepConnect Step = iota
	// StepTransport is the transport's own handshake: TLS, obfs4, an HTTP upgrade.
	StepTransport
	// StepSession is the session hello and the gateway's answer.
	StepSession
	// StepData is carrying data once the session is up.
	StepData
	// StepResolve is resolving the bridge's host name, before the connect.
	StepResolve
	// StepTLS is the TLS handshake within a transport's handshake (the part of
	// StepTransport that a probe can tell apart, from transports.Trace).
	StepTLS
)

func (s Step) String() string {
	switch s {
	case StepConnect:
		return "connect"
	case StepTransport:
		return "transport handshake"
	case StepSession:
		return "session handshake"
	case StepData:
		return "data"
	case StepResolve:
		return "name resolution"
	case StepTLS:
		return "TLS handshake"
	}
	return "unknown step"
}

// Error is a classified failure. It wraps the error the attempt returned.
type Error struct {
	Cause Cause
	Step  Step
	// Bytes is, for Frozen, how many carrier bytes came back before the freeze.
	Bytes int64
	// Skew is, for ClockOff, the server's clock minus the device's: positive when the
	// device is behind.
	Skew time.Duration
	// TLS is set when the carrier starts with a TLS ClientHello.
	TLS bool
	// Reason is, for Certificate, why the certificate was refused.
	Reason trust.Reason
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Explain()
	}
	return e.Explain() + " (" + e.Err.Error() + ")"
}

func (e *Error) Unwrap() error { return e.Err }

// OONI returns e in OONI's failure vocabulary: the cause's name (Cause.OONI), made
// precise where e knows more: a certificate's reason, a resolver's timeout or failure,
// and ssl_failed_handshake for a TLS handshake that failed otherwise.
func (e *Error) OONI() string {
	switch {
	case e.Cause == Certificate:
		return e.Reason.OONI()
	case e.Cause == NoAnswer:
		return resolverFailure(e.Err)
	case e.Cause == Unknown && e.Step == StepTLS:
		return "ssl_failed_handshake"
	}
	return e.Cause.OONI()
}

// Same reports whether e and o are one pattern: the same cause, and for a freeze
// about the same byte count (a censor draws its budget from a range, 14–20 KB in
// Russia, and transports add their own overhead).
func (e *Error) Same(o *Error) bool {
	if e.Cause != o.Cause {
		return false
	}
	if e.Cause != Frozen {
		return true
	}
	lo, hi := min(e.Bytes, o.Bytes), max(e.Bytes, o.Bytes)
	return lo > 0 && hi*2 <= lo*3 // within a factor 1.5
}

// Explain says in a sentence what is known, for a person.
func (e *Error) Explain() string {
	first := "the first packet"
	if e.TLS {
		first = "the TLS ClientHello"
	}
	switch e.Cause {
	case Refused:
		return "the bridge refused the connection: its address may be wrong, the gateway may be down, or a censor answered for it"
	case Unreachable:
		return "the bridge's address did not answer: it may be blocked by address, or offline"
	case Reset:
		if e.Step == StepData {
			return "the connection was reset while carrying data: a censor is likely cutting connections of this kind"
		}
		return "the connection was reset right after " + first + ": a censor is likely blocking this kind of connection"
	case Silent:
		return "the bridge went silent after " + first + ": a censor is likely dropping this kind of connection, or the bridge line's secret or address is wrong"
	case Frozen:
		return fmt.Sprintf("the connection stopped delivering after %s while staying open: a censor is likely freezing or cutting connections to this server", SizeText(e.Bytes))
	case Website:
		return "the gateway answered as a website: the bridge line's secret or address may be wrong, or your clock is off by more than 2 minutes"
	case Closed:
		return "the bridge closed the connection without answering: the bridge line's secret may be wrong, or a censor cut it"
	case Auth:
		return "the server did not prove the bridge line's key: the key= may be wrong, or someone is intercepting the connection"
	case ClockOff:
		return "your device's clock is " + SkewText(e.Skew) + " (the gateway allows 2 minutes): set it to the network's time"
	case Certificate:
		return certificateText(e.Reason)
	case NoName:
		return "the bridge's host name does not exist: the resolver may be censoring it, or the name is wrong"
	case NoAnswer:
		return "the bridge's host name did not resolve: the resolver failed or is being blocked"
	}
	switch e.Step {
	case StepConnect:
		return "the connection to the bridge failed"
	case StepTLS:
		return "the TLS handshake with the bridge failed"
	case StepData:
		return "the connection failed while carrying data"
	}
	return "the " + e.Step.String() + " failed"
}

// certificateText says why a TLS certificate was refused, for a person.
func certificateText(r trust.Reason) string {
	switch r {
	case trust.UnknownAuthority, trust.PinMismatch:
		return "the TLS certificate was not the bridge's (" + r.String() + "): someone is likely intercepting the connection, as a censor with its own certificate authority does"
	case trust.WrongName:
		return "the TLS certificate is for another name: someone may be intercepting the connection, or the bridge line's servername= is wrong"
	case trust.Expired:
		return "the TLS certificate has expired or is not valid yet: your device's clock may be off, or someone is intercepting the connection"
	}
	return "the TLS certificate was refused (" + r.String() + "): someone may be intercepting the connection"
}

// SkewText says how far a clock is off, for a person: "10 minutes behind".
func SkewText(skew time.Duration) string {
	dir := "behind"
	if skew < 0 {
		dir, skew = "ahead", -skew
	}
	switch {
	case skew >= 2*time.Hour:
		return fmt.Sprintf("%d hours %s", int(skew.Round(time.Hour)/time.Hour), dir)
	case skew >= 90*time.Second:
		return fmt.Sprintf("%d minutes %s", int(skew.Round(time.Minute)/time.Minute), dir)
	}
	return fmt.Sprintf("%d seconds %s", int(skew.Round(time.Second)/time.Second), dir)
}

// SizeText says a byte count for a person: "900 bytes", "16 KB".
func SizeText(n int64) string {
	if n < 10<<10 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d KB", (n+512)>>10)
}

// ParseCause returns the Cause that String names.
func ParseCause(name string) (Cause, bool) {
	for i, n := range causeNames {
		if n == name {
			return Cause(i), true
		}
	}
	return Unknown, false
}
