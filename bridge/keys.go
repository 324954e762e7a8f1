package bridge

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/umbrella-edge/edge/session"
)

// keyEncoding is base64url without padding (RFC 4648 §5). Key files hold keys in the
// same alphabet, so that an operator can paste one into a bridge line as it is.
var keyEncoding = base64.RawURLEncoding.Strict()

// EncodeKey returns b in base64url without padding, as bridge lines and key files hold keys.
func EncodeKey(b []byte) string { return keyEncoding.EncodeToString(b) }

// DecodeKey decodes base64url without padding and checks that it holds size bytes.
func DecodeKey(s string, size int) ([]byte, error) {
	b, err := keyEncoding.DecodeString(s)
	if err != nil {
		if strings.HasSuffix(s, "=") {
			return nil, fmt.Errorf("want %d bytes of base64url without '=' padding", size)
		}
		return nil, fmt.Errorf("want %d bytes of base64url: %w", size, err)
	}
	if len(b) != size {
		return nil, fmt.Errorf("want %d bytes of base64url, got %d", size, len(b))
	}
	return b, nil
}

// ParseSecret decodes a bridge secret written in base64url. An all-zero secret is
// refused: it is what a forgotten field looks like, never a generated secret.
func ParseSecret(s string) (session.Secret, error) {
	var secret session.Secret
	b, err := DecodeKey(s, session.SecretSize)
	if err != nil {
		return secret, err
	}
	copy(secret[:], b)
	if secret == (session.Secret{}) {
		return secret, errors.New("all zero: not a generated secret")
	}
	return secret, nil
}
