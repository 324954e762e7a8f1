package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/session"
)

// Identity names the gateway's identity key files, and the rotation under way:
//
//	identity:
//	  key: identity.key              # the default
//	  next: identity-next.key        # the key that replaces it, made on start if missing
//	  switch_at: 2027-01-10T00:00:00Z
//
// Until switch_at the gateway signs with key and announces next in every session,
// and its bridge lines carry both (next-key=); from switch_at on it signs with next
// alone. docs/identity-rotation.md has the procedure.
type Identity struct {
	// Key is the identity key file, under StateDir unless absolute; empty means
	// IdentityFile.
	Key string `yaml:"key"`
	// Next is the file of the key that replaces Key at SwitchAt; empty when no
	// rotation is under way.
	Next string `yaml:"next"`
	// SwitchAt is when Next becomes the identity; the overlap is until then.
	SwitchAt time.Time `yaml:"switch_at"`
}

// identity decodes the identity section.
func (d *decoder) identity(n *yaml.Node, path string) Identity {
	var id Identity
	nextLine := n.Line
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"key": func(v *yaml.Node, f string) { id.Key = d.str(v, f) },
		"next": func(v *yaml.Node, f string) {
			id.Next, nextLine = d.str(v, f), v.Line
		},
		"switch_at": func(v *yaml.Node, f string) {
			t, err := time.Parse(time.RFC3339, d.str(v, f))
			if err != nil {
				d.failf(v.Line, f, "want a time such as 2027-01-10T00:00:00Z (RFC 3339), got %s", describe(v))
				return
			}
			id.SwitchAt = t
		},
	})
	switch {
	case id.Next != "" && id.SwitchAt.IsZero() && !d.failed(join(path, "switch_at")):
		d.missing(join(path, "switch_at"), n.Line, "when next becomes the identity key, such as 2027-01-10T00:00:00Z")
	case id.Next == "" && !id.SwitchAt.IsZero():
		d.missing(join(path, "next"), n.Line, "the file of the key that replaces key at switch_at")
	case id.Next != "" && filepath.Clean(id.Next) == filepath.Clean(id.keyFile()):
		d.failf(nextLine, join(path, "next"), "%s is the key file itself: a rotation needs another key", id.Next)
	}
	return id
}

func (id Identity) keyFile() string {
	if id.Key == "" {
		return IdentityFile
	}
	return id.Key
}

func (g *Gateway) keyPath(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(g.StateDir, name)
}

// ResolveIdentity loads the gateway's identity key and the rotation under way (nil
// for none), generating either key file that does not exist yet.
func ResolveIdentity(g *Gateway) (ed25519.PrivateKey, *session.Rotation, error) {
	key, _, err := LoadOrCreateIdentity(g.keyPath(g.Identity.keyFile()))
	if err != nil {
		return nil, nil, g.Source.Wrap(g.identityField("key"), err)
	}
	if g.Identity.Next == "" {
		return key, nil, nil
	}
	next, _, err := LoadOrCreateIdentity(g.keyPath(g.Identity.Next))
	if err != nil {
		return nil, nil, g.Source.Wrap("identity.next", err)
	}
	if next.Equal(key) {
		return nil, nil, g.Source.Wrap("identity.next", errors.New("holds the same key as identity.key: a rotation needs another key"))
	}
	return key, &session.Rotation{Next: next, At: g.Identity.SwitchAt}, nil
}

// checkIdentity checks the identity key files without making any: one that does not
// exist is made on start, one that exists must be a private, valid key file.
func checkIdentity(g *Gateway) []error {
	var errs []error
	files := map[string]string{g.identityField("key"): g.Identity.keyFile()}
	if g.Identity.Next != "" {
		files["identity.next"] = g.Identity.Next
	}
	for field, name := range files {
		if _, err := readKeyFile(g.keyPath(name), ed25519.SeedSize); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, g.Source.Wrap(field, err))
		}
	}
	return errs
}

// identityField is the field an error about the identity key file points at: its
// own line when the config names it, state_dir's otherwise.
func (g *Gateway) identityField(f string) string {
	if g.Identity.Key == "" && f == "key" {
		return "state_dir"
	}
	return fmt.Sprintf("identity.%s", f)
}
