package config

import (
	"fmt"
	"path/filepath"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/session"
)

// DefaultSecretFile is the secret file, in the state directory, that a gateway with no
// secrets configured uses (and generates on first start).
const DefaultSecretFile = "secret.key"

// ResolveSecrets returns the gateway's bridge secrets in config order: the first is the
// one printed in bridge lines, the others are still accepted (rotation). Inline entries
// are decoded; other entries are secret files, relative to state_dir, that must exist:
// a misspelt name must not silently become a new secret that locks users out. With no
// secrets configured, StateDir/secret.key is read, or generated on first start.
func ResolveSecrets(g *Gateway) ([]session.Secret, error) {
	if len(g.Secrets) == 0 {
		s, _, err := LoadOrCreateSecret(filepath.Join(g.StateDir, DefaultSecretFile))
		if err != nil {
			return nil, g.Source.Wrap("state_dir", err)
		}
		return []session.Secret{s}, nil
	}
	out := make([]session.Secret, 0, len(g.Secrets))
	seen := make(map[session.Secret]int, len(g.Secrets))
	for i, entry := range g.Secrets {
		field := fmt.Sprintf("secrets[%d]", i)
		var (
			s   session.Secret
			err error
		)
		if looksInline(entry) {
			s, err = bridge.ParseSecret(entry)
		} else {
			path := entry
			if !filepath.IsAbs(path) {
				path = filepath.Join(g.StateDir, path)
			}
			s, err = LoadSecret(path)
		}
		if err != nil {
			return nil, g.Source.Wrap(field, err)
		}
		if j, dup := seen[s]; dup {
			return nil, g.Source.Wrap(field, fmt.Errorf("same secret as secrets[%d]", j))
		}
		seen[s] = i
		out = append(out, s)
	}
	return out, nil
}
