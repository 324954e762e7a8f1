package httpfront

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/umbrella-edge/edge/internal/statefile"
)

// pathFile holds a listener's generated secret path in its state directory.
const pathFile = "secret-path"

// pathBytes of randomness make a generated path: 160 bits, beyond guessing or scanning.
const pathBytes = 20

// ErrBadPath is wrapped when a secret path is not one a client can send and an nginx
// location can match exactly.
var ErrBadPath = errors.New("bad secret path")

// CheckPath accepts "/" followed by URL-safe characters (letters, digits, "-._~/"),
// which need no escaping in a request line, a bridge line or an nginx location.
func CheckPath(p string) error {
	if len(p) < 2 || p[0] != '/' {
		return fmt.Errorf("%w %q: want / and at least one more character", ErrBadPath, p)
	}
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~/", r)
		if !ok {
			return fmt.Errorf("%w %q: %q is not a letter, digit or one of -._~/", ErrBadPath, p, r)
		}
	}
	return nil
}

// NewPath returns a fresh random secret path.
func NewPath() string {
	b := make([]byte, pathBytes)
	rand.Read(b) // never fails (crypto/rand)
	return "/" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// StatePath returns the secret path kept in stateDir, generating it on first use; with
// no stateDir, a fresh one for this run.
func StatePath(stateDir string) (string, error) {
	if stateDir == "" {
		return NewPath(), nil
	}
	name := filepath.Join(stateDir, pathFile)
	b, err := os.ReadFile(name)
	if err == nil {
		p := strings.TrimSpace(string(b))
		if err := CheckPath(p); err != nil {
			return "", fmt.Errorf("secret path in %s (delete the file to generate a new one): %w", name, err)
		}
		return p, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read secret path: %w", err)
	}
	p := NewPath()
	// Two listeners sharing a state directory by mistake must not overwrite each
	// other's path after bridge lines with the first were handed out.
	created, err := statefile.Create(name, []byte(p+"\n"))
	if err != nil {
		return "", fmt.Errorf("write secret path: %w", err)
	}
	if !created {
		return StatePath(stateDir)
	}
	return p, nil
}
