package config

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/internal/statefile"
	"github.com/umbrella-edge/edge/session"
)

// Key files hold one key as one line of base64url without padding (RFC 4648 §5, the
// alphabet of bridge lines), after optional '#' comment lines:
//
//	# umbrella identity key: Ed25519 seed. Keep secret; the public key goes in bridge lines.
//	q3x…(43 characters)
//
// identity.key holds the 32-byte Ed25519 seed (RFC 8032 private key), a secret file the
// 32-byte bridge secret. A text line rather than PEM so that an operator can paste a
// secret into a config or a bridge line as it is. Files are mode 0600 in a 0700 directory;
// a key file that group or others may read is refused.

// GenerateSecret returns a new random bridge secret.
func GenerateSecret() session.Secret {
	var s session.Secret
	rand.Read(s[:]) // never fails since Go 1.24: it crashes the program instead
	return s
}

// LoadOrCreateIdentity reads the gateway's Ed25519 identity from path, or generates one
// into a new file if there is none (an existing file is never overwritten).
func LoadOrCreateIdentity(path string) (key ed25519.PrivateKey, created bool, err error) {
	header := "umbrella identity key: Ed25519 seed. Keep secret; the public key goes in bridge lines."
	seed, created, err := loadOrCreate(path, header, ed25519.SeedSize, func() []byte {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		return priv.Seed()
	})
	if err != nil {
		return nil, false, err
	}
	return ed25519.NewKeyFromSeed(seed), created, nil
}

// LoadOrCreateSecret reads a bridge secret from path, or generates one into a new file
// if there is none (an existing file is never overwritten).
func LoadOrCreateSecret(path string) (session.Secret, bool, error) {
	header := "umbrella bridge secret: whoever has it can use this gateway. Keep it in bridge lines only."
	var secret session.Secret
	b, created, err := loadOrCreate(path, header, session.SecretSize, func() []byte {
		s := GenerateSecret()
		return s[:]
	})
	if err != nil {
		return secret, false, err
	}
	copy(secret[:], b)
	return secret, created, nil
}

// LoadSecret reads a bridge secret file written by LoadOrCreateSecret.
func LoadSecret(path string) (session.Secret, error) {
	var secret session.Secret
	b, err := readKeyFile(path, session.SecretSize)
	if err != nil {
		return secret, err
	}
	copy(secret[:], b)
	if secret == (session.Secret{}) {
		return secret, fmt.Errorf("read key file %s: all zero: not a generated secret", path)
	}
	return secret, nil
}

func loadOrCreate(path, header string, size int, generate func() []byte) ([]byte, bool, error) {
	b, err := readKeyFile(path, size)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, false, err
	}
	b = generate()
	created, err := writeKeyFile(path, header, b)
	if err != nil {
		return nil, false, err
	}
	if !created {
		// Another process created it first: use theirs, so both agree.
		b, err = readKeyFile(path, size)
	}
	return b, created, err
}

// readKeyFile reads one key of size bytes, refusing a file other users could read.
func readKeyFile(path string, size int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read key file %s: not a regular file", path)
	}
	if err := statefile.CheckPrivate(path, fi); err != nil {
		return nil, fmt.Errorf("read key file %w", err)
	}
	// A key file is a few lines; a larger one is not a key file.
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	var line string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if line != "" {
			return nil, fmt.Errorf("read key file %s: more than one key line", path)
		}
		line = t
	}
	if line == "" {
		return nil, fmt.Errorf("read key file %s: no key line", path)
	}
	b, err := bridge.DecodeKey(line, size)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	return b, nil
}

// writeKeyFile writes key to path atomically, mode 0600, creating the directory with mode
// 0700. It never replaces an existing file: created is false if path already existed.
func writeKeyFile(path, header string, key []byte) (created bool, err error) {
	created, err = statefile.Create(path, []byte(fmt.Sprintf("# %s\n%s\n", header, bridge.EncodeKey(key))))
	if err != nil {
		return false, fmt.Errorf("write key file: %w", err)
	}
	return created, nil
}
