package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/umbrella-edge/edge/config"
)

func runKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", `
Generates a gateway identity key (identity.key) and a bridge secret (secret.key) into a
state directory, files mode 0600. Existing keys are kept, never overwritten. Prints the
public key that bridge lines pin; the gateway generates the same on first start if you skip this.`, stderr)
	dir := fs.String("state-dir", "", "state `directory` for the keys (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		fs.Usage()
		return errors.New("keygen: --state-dir is required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	idPath := filepath.Join(*dir, "identity.key")
	id, created, err := config.LoadOrCreateIdentity(idPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", idPath, state(created))
	secretPath := filepath.Join(*dir, "secret.key")
	if _, created, err = config.LoadOrCreateSecret(secretPath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", secretPath, state(created))
	fmt.Fprintf(stdout, "public key (key= in bridge lines): %s\n", config.EncodeKey(id.Public().(ed25519.PublicKey)))
	return nil
}

func state(created bool) string {
	if created {
		return "(generated)"
	}
	return "(exists, kept)"
}
