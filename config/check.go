package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// IdentityFile is the gateway's identity key file in its state directory.
const IdentityFile = "identity.key"

// CheckKeys checks the key files a gateway would read when it starts, making none:
// the state directory, identity.key and the secret files. A missing identity.key or
// default secret file is fine (the first start makes it); a configured secret file
// must exist. Every problem is a *FieldError.
func CheckKeys(g *Gateway) error {
	var errs []error
	fi, err := os.Stat(g.StateDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// made on first start, with the keys in it
	case err != nil:
		errs = append(errs, g.Source.Wrap("state_dir", err))
	case !fi.IsDir():
		errs = append(errs, g.Source.Wrap("state_dir", fmt.Errorf("%s is not a directory", g.StateDir)))
	case fi.Mode().Perm()&0o022 != 0:
		errs = append(errs, g.Source.Wrap("state_dir", fmt.Errorf(
			"%s: mode %04o: other users may replace the keys in it; run: chmod 700 %s", g.StateDir, fi.Mode().Perm(), g.StateDir)))
	}
	if _, err := readKeyFile(filepath.Join(g.StateDir, IdentityFile), ed25519.SeedSize); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, g.Source.Wrap("state_dir", err))
	}
	if len(g.Secrets) == 0 {
		if _, err := LoadSecret(filepath.Join(g.StateDir, DefaultSecretFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, g.Source.Wrap("state_dir", err))
		}
	} else if _, err := ResolveSecrets(g); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
