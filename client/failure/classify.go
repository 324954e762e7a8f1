package failure

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports/trust"
)

// ClockTolerance is how far a server's Date may be from the device's clock before the
// clock is taken to be wrong: half the gateway's freshness window (two minutes either
// way), and far above the Date header's one-second resolution.
const ClockTolerance = 60 * time.Second

// An Observation is what one attempt saw when it failed.
type Observation struct {
	// Step is the step that failed.
	Step Step
	// Err is the attempt's error.
	Err error
	// TLS is set when the carrier starts with a TLS ClientHello.
	TLS bool
	// Received counts the bytes the carrier delivered after the transport's handshake;
	// Head holds the first of them (see Meter).
	Received int64
	Head     []byte
	// ServerDate is an HTTP Date header that the server or its front sent while the
	// carrier was set up (or in Head), and Local the device's clock when it came; both
	// zero when none came.
	ServerDate, Local time.Time
}

// Classify names the likeliest cause of the failure o saw.
func Classify(o Observation) *Error {
	if o.ServerDate.IsZero() {
		o.ServerDate, _ = httpDate(o.Head)
	}
	e := &Error{Step: o.Step, TLS: o.TLS, Err: o.Err, Cause: cause(o)}
	var te *trust.Error
	switch {
	case e.Cause == Frozen:
		e.Bytes = o.Received
	case e.Cause == ClockOff:
		e.Skew = skew(o)
	case e.Cause == Certificate && errors.As(o.Err, &te):
		e.Reason = te.Reason
	}
	return e
}

func cause(o Observation) Cause {
	err := o.Err
	website := looksLikeHTTP(o.Head)
	var dns *net.DNSError
	switch {
	case errors.Is(err, trust.ErrCertificate):
		return Certificate
	case errors.As(err, &dns) && dns.IsNotFound:
		return NoName
	case errors.As(err, &dns):
		return NoAnswer
	case errors.Is(err, session.ErrAuth):
		return Auth
	case o.Step == StepSession && !o.ServerDate.IsZero() && abs(skew(o)) > ClockTolerance:
		return ClockOff
	case website && o.Step == StepSession:
		return Website
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return Unreachable
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Reset
	case timedOut(err) && o.Step == StepConnect:
		return Unreachable
	case timedOut(err) && o.Received > 0:
		return Frozen
	case timedOut(err):
		return Silent
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Closed
	}
	return Unknown
}

// resolverFailure names a resolver's failure as OONI's probes do for Go's resolver:
// a timeout, a server that failed (SERVFAIL, REFUSED: "server misbehaving"), or
// something else.
func resolverFailure(err error) string {
	var dns *net.DNSError
	switch {
	case timedOut(err):
		return "generic_timeout_error"
	case errors.As(err, &dns) && dns.Err == "server misbehaving":
		return "dns_server_misbehaving"
	}
	return "unknown_failure: " + NoAnswer.String()
}

// timedOut reports whether err is a deadline passing: a context's, a socket's, or a
// watchdog's that says it is a timeout.
func timedOut(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &t) && t.Timeout())
}

func skew(o Observation) time.Duration {
	if o.ServerDate.IsZero() || o.Local.IsZero() {
		return 0
	}
	return o.ServerDate.Sub(o.Local)
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// looksLikeHTTP reports whether head starts an HTTP/1 response.
func looksLikeHTTP(head []byte) bool { return bytes.HasPrefix(head, []byte("HTTP/1.")) }

// httpDate returns the Date header of the HTTP/1 response head starts with.
func httpDate(head []byte) (time.Time, bool) {
	if !looksLikeHTTP(head) {
		return time.Time{}, false
	}
	lines := bytes.Split(head, []byte("\r\n"))
	for _, line := range lines[1:] {
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("Date")) {
			continue
		}
		t, err := http.ParseTime(string(bytes.TrimSpace(value)))
		return t, err == nil
	}
	return time.Time{}, false
}
