package quicobfs

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/umbrella-edge/edge/internal/statefile"
	"github.com/umbrella-edge/edge/transports"
)

// keyFile holds a listener's obfuscation key in its state directory: one line of
// base64url without padding after '#' comment lines, as the gateway's own key files.
const keyFile = "quicobfs.key"

var keyEncoding = base64.RawURLEncoding.Strict()

// EncodeKey writes an obfuscation key as bridge lines carry it.
func EncodeKey(key []byte) string { return keyEncoding.EncodeToString(key) }

// DecodeKey reads an obfuscation key from a bridge line.
func DecodeKey(s string) ([]byte, error) {
	key, err := keyEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("want %d bytes of base64url without padding: %w", KeySize, err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("want %d bytes of base64url, got %d", KeySize, len(key))
	}
	return key, nil
}

// checkListen refuses arguments (there are none) and a key in the state directory
// that is unreadable or that others may read.
func checkListen(cfg transports.ListenConfig) error {
	if err := cfg.Args.Unknown(); err != nil {
		return err
	}
	if cfg.StateDir == "" {
		return nil
	}
	if _, err := readKey(filepath.Join(cfg.StateDir, keyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// loadOrCreateKey returns the key in dir, generating it on first start; with no dir,
// a key for this run only.
func loadOrCreateKey(dir string) ([]byte, error) {
	if dir == "" {
		return newKey(), nil
	}
	path := filepath.Join(dir, keyFile)
	key, err := readKey(path)
	if !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	key = newKey()
	text := fmt.Sprintf("# umbrella quicobfs obfuscation key: the cert= of this listener's bridge lines. Keep secret.\n%s\n", EncodeKey(key))
	// Never overwrite a key that bridge lines were handed out with.
	created, err := statefile.Create(path, []byte(text))
	if err != nil {
		return nil, fmt.Errorf("write obfuscation key: %w", err)
	}
	if !created {
		return readKey(path) // another listener sharing the directory made it first
	}
	return key, nil
}

func readKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := statefile.CheckPrivate(path, fi); err != nil {
		return nil, fmt.Errorf("obfuscation key %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := DecodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("obfuscation key %s (delete the file to generate a new one): %w", path, err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("obfuscation key %s holds no key (delete the file to generate a new one)", path)
}

func newKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key) // never fails since Go 1.24
	return key
}
