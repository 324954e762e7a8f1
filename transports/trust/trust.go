// Package trust decides whether a TLS server's certificate is one a client accepts: a
// key pinned by the bridge line (pin=, for a gateway's self-signed certificate), or a
// chain to the client's roots (the system's, or a pool from its local CA file). The TLS
// transports, the probe tool and the operations tooling share it; it reads no config.
package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// PinArg is the bridge-line argument that pins a server's key: pin=BASE64URL, or
// several separated by commas. The gateway prints it for listeners whose TLS
// certificate it made itself; a certificate from a CA needs none.
const PinArg = "pin"

// A Verifier checks the certificates one server presents. The zero Verifier checks a
// chain to the system's roots for no name, which fails: set ServerName.
type Verifier struct {
	// ServerName is the name the certificate must be for when no pin decides: the
	// TLS server name sent, which behind a CDN is the front's, not the origin's.
	ServerName string
	// Roots are the authorities a chain must reach when Pins is empty; nil means the
	// system's roots.
	Roots *x509.CertPool
	// Pins, when set, are the only keys accepted: the leaf's, or a key that signed
	// the chain. Roots are then not consulted.
	Pins []Pin
	// Now is the time chains are checked at; nil means time.Now.
	Now func() time.Time
}

// Verify checks certs, the server's chain leaf first, and returns a *Error if the
// client must not accept it.
//
// A pinned leaf key is accepted whatever the certificate's names and dates: the pin
// names the key, and a self-signed certificate's names and dates are the key
// holder's to write, so checking them would add no safety and would fail clients
// whose clocks are wrong. A pinned key higher in the chain (a private CA's) is
// accepted for a chain that verifies to it, for ServerName, now.
func (v *Verifier) Verify(certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return &Error{ServerName: v.ServerName, Reason: Malformed, Err: errors.New("the server sent no certificate")}
	}
	if len(v.Pins) > 0 {
		return v.verifyPinned(certs)
	}
	if _, err := certs[0].Verify(v.options(certs, v.Roots)); err != nil {
		return &Error{ServerName: v.ServerName, Reason: reasonOf(err), Err: err}
	}
	return nil
}

// VerifyRaw is Verify for DER certificates, in the shape of tls.Config's
// VerifyPeerCertificate.
func (v *Verifier) VerifyRaw(raw [][]byte, _ [][]*x509.Certificate) error {
	certs := make([]*x509.Certificate, len(raw))
	for i, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return &Error{ServerName: v.ServerName, Reason: Malformed, Err: err}
		}
		certs[i] = c
	}
	return v.Verify(certs)
}

func (v *Verifier) verifyPinned(certs []*x509.Certificate) error {
	pool := x509.NewCertPool()
	pinned := 0
	for i, c := range certs {
		if !v.pinned(c) {
			continue
		}
		if i == 0 {
			return nil
		}
		pool.AddCert(c)
		pinned++
	}
	if pinned == 0 {
		return &Error{ServerName: v.ServerName, Reason: PinMismatch, Err: fmt.Errorf("key %s is not pinned", PinOf(certs[0]))}
	}
	if _, err := certs[0].Verify(v.options(certs, pool)); err != nil {
		return &Error{ServerName: v.ServerName, Reason: PinMismatch, Err: fmt.Errorf("the chain does not verify to the pinned key: %w", err)}
	}
	return nil
}

func (v *Verifier) pinned(c *x509.Certificate) bool {
	p := PinOf(c)
	for _, want := range v.Pins {
		if p == want {
			return true
		}
	}
	return false
}

func (v *Verifier) options(certs []*x509.Certificate, roots *x509.CertPool) x509.VerifyOptions {
	opts := x509.VerifyOptions{
		DNSName:       v.ServerName,
		Roots:         roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if v.Now != nil {
		opts.CurrentTime = v.Now()
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	return opts
}

// LoadCAFile returns the system's roots plus the certificates of the PEM file at path:
// the pool a client with a local CA file (a private CA, a test ACME server's) verifies
// against. A file without a certificate is an error, so a wrong path or format is not
// silently the system's roots alone.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}
