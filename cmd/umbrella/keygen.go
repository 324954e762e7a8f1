package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/internal/cli"
)

func runKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", `
Generates a gateway identity key (identity.key) and a bridge secret (secret.key) into a
state directory, files mode 0600. Existing keys are kept, never overwritten. Prints the
public key that bridge lines pin; the gateway generates the same on first start if you skip this.

To rotate the bridge secret, generate another file and list it first in the gateway's
secrets: (keep the old one listed until users have the new lines), then send SIGHUP:
  umbrella keygen --state-dir DIR --secret secret-2026-12.key`, stderr)
	dir := fs.String("state-dir", "", "state `directory` for the keys (required)")
	secretName := fs.String("secret", "secret.key", "file `name` (in the state directory) of the bridge secret to generate")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		fs.Usage()
		return errors.New("keygen: --state-dir is required")
	}
	if *secretName != filepath.Base(*secretName) {
		return fmt.Errorf("keygen: --secret %q: want a file name, not a path (it goes in --state-dir)", *secretName)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	idPath := filepath.Join(*dir, config.IdentityFile)
	id, created, err := config.LoadOrCreateIdentity(idPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", idPath, state(created))
	secretPath := filepath.Join(*dir, *secretName)
	if _, created, err = config.LoadOrCreateSecret(secretPath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", secretPath, state(created))
	fmt.Fprintf(stdout, "public key (key= in bridge lines): %s\n", bridge.EncodeKey(id.Public().(ed25519.PublicKey)))
	return nil
}

func state(created bool) string {
	if created {
		return "(generated)"
	}
	return "(exists, kept)"
}
