package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// A Pin is the SHA-256 of a certificate's SubjectPublicKeyInfo, as HPKP's pin-sha256
// (RFC 7469 section 2.4) and curl's --pinnedpubkey hash it: it names the key, so it
// survives the certificate's renewal with the same key. It is printed as base64url
// without padding, like the bridge line's other binary values.
type Pin [sha256.Size]byte

// PinOf returns the pin of cert's key.
func PinOf(cert *x509.Certificate) Pin { return sha256.Sum256(cert.RawSubjectPublicKeyInfo) }

// String returns the pin as a bridge line carries it.
func (p Pin) String() string { return base64.RawURLEncoding.EncodeToString(p[:]) }

// ParsePin reads one pin in base64url; padding is tolerated.
func ParsePin(s string) (Pin, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) != sha256.Size {
		return Pin{}, fmt.Errorf("want the base64url SHA-256 of a key (43 characters), got %q", s)
	}
	return Pin(b), nil
}

// ParsePins reads a pin= value: one pin, or several separated by commas (the key in
// use and the next one, while an operator changes keys).
func ParsePins(s string) ([]Pin, error) {
	var pins []Pin
	for _, f := range strings.Split(s, ",") {
		p, err := ParsePin(f)
		if err != nil {
			return nil, err
		}
		pins = append(pins, p)
	}
	return pins, nil
}

// FormatPins is the pin= value for pins.
func FormatPins(pins []Pin) string {
	s := make([]string, len(pins))
	for i, p := range pins {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
