package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
)

// Reason says why a certificate was refused.
type Reason int

// Reasons, each with the OONI failure string (ooni/spec, df-007-errors) a probe reports
// it as.
const (
	// UnknownAuthority: the chain reaches no trusted root, as a censor's own CA's or a
	// self-signed certificate's does (ssl_unknown_authority).
	UnknownAuthority Reason = iota + 1
	// WrongName: the certificate is not for the server name (ssl_invalid_hostname).
	WrongName
	// Expired: the certificate is outside its validity period (ssl_invalid_certificate).
	Expired
	// PinMismatch: no key in the chain is one the bridge line pins
	// (ssl_invalid_certificate).
	PinMismatch
	// Malformed: the certificate could not be parsed or used
	// (ssl_invalid_certificate).
	Malformed
)

func (r Reason) String() string {
	switch r {
	case UnknownAuthority:
		return "unknown authority"
	case WrongName:
		return "wrong name"
	case Expired:
		return "expired"
	case PinMismatch:
		return "pin mismatch"
	case Malformed:
		return "malformed"
	}
	return "invalid"
}

// OONI returns r in OONI's failure vocabulary (ooni/spec, data-formats/df-007-errors,
// as ooni/probe-cli spells them): ssl_unknown_authority, ssl_invalid_hostname, or
// ssl_invalid_certificate for the rest.
func (r Reason) OONI() string {
	switch r {
	case UnknownAuthority:
		return "ssl_unknown_authority"
	case WrongName:
		return "ssl_invalid_hostname"
	}
	return "ssl_invalid_certificate"
}

// ErrCertificate is wrapped by every *Error, for callers that only ask whether a
// failure was the server's certificate.
var ErrCertificate = errors.New("certificate refused")

// Error reports a server certificate the client refused: the TLS handshake was
// aborted with a browser's alert and nothing else was sent.
type Error struct {
	ServerName string
	Reason     Reason
	Err        error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v for %s: %s: %v", ErrCertificate, e.ServerName, e.Reason, e.Err)
}

// Unwrap returns ErrCertificate and the underlying error.
func (e *Error) Unwrap() []error { return []error{ErrCertificate, e.Err} }

// reasonOf classifies an error of x509.Certificate.Verify.
func reasonOf(err error) Reason {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return UnknownAuthority
	case errors.As(err, &hn):
		return WrongName
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return Expired
	}
	return Malformed
}
