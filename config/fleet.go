package config

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/internal/statefile"
	"github.com/umbrella-edge/edge/transports"
)

// Fleet makes a gateway an edge of a fleet that shares its replay cache, revocations
// and session directory through Redis (docs/fleet.md). Absent, the gateway runs alone.
//
//	fleet:
//	  edge: edge-a                  # this edge's name, unique in the fleet
//	  link: 10.0.0.5:7443           # where other edges reach this one (mutual TLS)
//	  link_public: 10.0.0.5:7443    # what they dial; needed when link is a wildcard
//	  redis:
//	    addr: 10.0.0.9:6379
//	    username: umbrella          # a Redis ACL user; empty: the default user
//	    password_file: redis.password  # in state_dir, mode 0600
//	    db: 0
//	    prefix: "umbrella:"
//	    tls: {ca_file: redis-ca.pem, server_name: redis.internal}
//	  wait: 500ms                   # the longest a hello waits for Redis
//	  lease: 10m                    # how long a directory entry lives unrenewed
//	  revoked_link_keys: [KEY]      # link keys of edges whose state_dir leaked
type Fleet struct {
	Edge       string        `yaml:"edge"`
	Link       string        `yaml:"link"`
	LinkPublic string        `yaml:"link_public"`
	Redis      FleetRedis    `yaml:"redis"`
	Wait       time.Duration `yaml:"wait"`  // default fleet.DefaultWait
	Lease      time.Duration `yaml:"lease"` // default fleet.DefaultLease
	// RevokedLinkKeys are public link keys (as an edge logs its own at start) that
	// every edge of the fleet refuses on the link, applied at start and on SIGHUP.
	RevokedLinkKeys []LinkKey `yaml:"revoked_link_keys"`
}

// LinkKey is an edge's public link key, written in config as bridge lines write keys.
type LinkKey ed25519.PublicKey

// MarshalYAML writes the key as the config holds it.
func (k LinkKey) MarshalYAML() (any, error) { return bridge.EncodeKey(k), nil }

// LinkKeys are the keys as RevokeKeys takes them.
func (f *Fleet) LinkKeys() []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, len(f.RevokedLinkKeys))
	for i, k := range f.RevokedLinkKeys {
		out[i] = ed25519.PublicKey(k)
	}
	return out
}

// FleetRedis is how an edge reaches the fleet's Redis.
type FleetRedis struct {
	Addr     string `yaml:"addr"`
	Username string `yaml:"username"`
	// PasswordFile holds the password on one line; relative to state_dir, mode 0600.
	PasswordFile string    `yaml:"password_file"`
	DB           int       `yaml:"db"`
	Prefix       string    `yaml:"prefix"`        // default fleet.DefaultPrefix
	TLS          *FleetTLS `yaml:"tls,omitempty"` // nil: plain TCP
}

// FleetTLS is TLS to Redis: the CA that signed its certificate (empty: the system's
// roots), the name to check in it (empty: addr's host), and a client certificate if
// Redis asks for one (tls-auth-clients). Paths are relative to the config file.
type FleetTLS struct {
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
}

func (d *decoder) fleet(n *yaml.Node, path, file string) *Fleet {
	f := &Fleet{}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"edge": func(v *yaml.Node, fl string) {
			if f.Edge = d.str(v, fl); f.Edge != "" {
				d.check(v.Line, fl, limits.CheckEdgeName(f.Edge))
			}
		},
		"link": func(v *yaml.Node, fl string) {
			if f.Link = d.str(v, fl); f.Link != "" {
				d.check(v.Line, fl, transports.CheckListenAddr(f.Link))
			}
		},
		"link_public": func(v *yaml.Node, fl string) {
			if f.LinkPublic = d.str(v, fl); f.LinkPublic != "" {
				d.check(v.Line, fl, bridge.CheckAddr(f.LinkPublic))
			}
		},
		"redis": func(v *yaml.Node, fl string) { f.Redis = d.fleetRedis(v, fl, file) },
		"wait":  func(v *yaml.Node, fl string) { f.Wait = d.positive(v, fl) },
		"lease": func(v *yaml.Node, fl string) { f.Lease = d.positive(v, fl) },
		"revoked_link_keys": func(v *yaml.Node, fl string) {
			d.list(v, fl, func(item *yaml.Node, field string) {
				k, err := bridge.DecodeKey(d.str(item, field), ed25519.PublicKeySize)
				if err != nil {
					d.fail(item.Line, field, fmt.Errorf("want an edge's public link key, as it logs it (link_key=): %w", err))
					return
				}
				f.RevokedLinkKeys = append(f.RevokedLinkKeys, LinkKey(k))
			})
		},
	})
	if f.Edge == "" {
		d.missing(path+".edge", n.Line, "this edge's name in the fleet, such as edge-a")
	}
	if f.Link == "" {
		d.missing(path+".link", n.Line, "the address other edges reach this one on, such as 10.0.0.5:7443")
	} else if f.LinkPublic == "" && isWildcard(f.Link) {
		d.missing(path+".link_public", n.Line, fmt.Sprintf("the address other edges dial, since link %q is a wildcard", f.Link))
	}
	if f.Redis.Addr == "" {
		d.missing(path+".redis.addr", n.Line, "the fleet's Redis, host:port")
	}
	return f
}

func (d *decoder) positive(v *yaml.Node, field string) time.Duration {
	t := d.duration(v, field)
	if t < 0 {
		d.failf(v.Line, field, "want 0s (the default) or more, got %s", t)
	}
	return t
}

func (d *decoder) fleetRedis(n *yaml.Node, path, file string) FleetRedis {
	var r FleetRedis
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"addr": func(v *yaml.Node, f string) {
			if r.Addr = d.str(v, f); r.Addr != "" {
				if _, _, err := net.SplitHostPort(r.Addr); err != nil {
					d.fail(v.Line, f, fmt.Errorf("want host:port: %w", err))
				}
			}
		},
		"username":      func(v *yaml.Node, f string) { r.Username = d.str(v, f) },
		"password_file": func(v *yaml.Node, f string) { r.PasswordFile = d.str(v, f) },
		"db": func(v *yaml.Node, f string) {
			if r.DB = d.integer(v, f); r.DB < 0 {
				d.failf(v.Line, f, "want 0 or more, got %d", r.DB)
			}
		},
		"prefix": func(v *yaml.Node, f string) { r.Prefix = d.str(v, f) },
		"tls":    func(v *yaml.Node, f string) { r.TLS = d.fleetTLS(v, f, file) },
	})
	return r
}

func (d *decoder) fleetTLS(n *yaml.Node, path, file string) *FleetTLS {
	t := &FleetTLS{}
	fileField := func(dst *string) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) {
			*dst = d.str(v, f)
			d.expand(dst, f, file)
		}
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"ca_file":     fileField(&t.CAFile),
		"server_name": func(v *yaml.Node, f string) { t.ServerName = d.str(v, f) },
		"cert_file":   fileField(&t.CertFile),
		"key_file":    fileField(&t.KeyFile),
	})
	if (t.CertFile == "") != (t.KeyFile == "") {
		d.failf(n.Line, path, "cert_file and key_file go together: a client certificate needs its key")
	}
	return t
}

// FleetSecrets is what the files a fleet block names hold: this edge's link key
// (state_dir/link.key, generated on first start) and the Redis password and TLS
// configuration.
type FleetSecrets struct {
	LinkKey       ed25519.PrivateKey
	RedisPassword string
	RedisTLS      *tls.Config // nil: plain TCP
}

// ReadFleetSecrets reads the files of a config's fleet block, making the link key on
// first start; each error names its field.
func ReadFleetSecrets(g *Gateway) (FleetSecrets, error) {
	linkKey, _, err := LoadOrCreateLinkKey(filepath.Join(g.StateDir, LinkKeyFile))
	if err != nil {
		return FleetSecrets{}, g.Source.Wrap("fleet", err)
	}
	password, tlsConfig, err := fleetRedis(g)
	if err != nil {
		return FleetSecrets{}, err
	}
	return FleetSecrets{LinkKey: linkKey, RedisPassword: password, RedisTLS: tlsConfig}, nil
}

// LinkKeyFile is this edge's own key for the inter-edge link, in state_dir.
const LinkKeyFile = "link.key"

// CheckFleet tests what ReadFleetSecrets would read, making nothing: the Redis password
// file, the TLS files, and the link key if one was made. It reaches no Redis.
func CheckFleet(g *Gateway) error {
	if g.Fleet == nil {
		return nil
	}
	_, _, err := fleetRedis(g)
	if _, kerr := readKeyFile(filepath.Join(g.StateDir, LinkKeyFile), ed25519.SeedSize); kerr != nil && !errors.Is(kerr, fs.ErrNotExist) {
		err = errors.Join(err, g.Source.Wrap("fleet", kerr))
	}
	return err
}

// fleetRedis reads the files the fleet's redis block names, each error naming its field.
func fleetRedis(g *Gateway) (password string, tlsConfig *tls.Config, err error) {
	r := g.Fleet.Redis
	var errs []error
	if p := r.PasswordFile; p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(g.StateDir, p)
		}
		if password, err = readPasswordFile(p); err != nil {
			errs = append(errs, g.Source.Wrap("fleet.redis.password_file", err))
		}
	}
	if r.TLS != nil {
		if tlsConfig, err = r.TLS.config(r.Addr); err != nil {
			errs = append(errs, g.Source.Wrap("fleet.redis.tls", err))
		}
	}
	return password, tlsConfig, errors.Join(errs...)
}

func (t *FleetTLS) config(addr string) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(addr)
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if t.ServerName != "" {
		c.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file, key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// readPasswordFile reads a password on one line, refusing a file others could read.
func readPasswordFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read password file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read password file: %w", err)
	}
	if err := statefile.CheckPrivate(path, fi); err != nil {
		return "", fmt.Errorf("read password file %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("read password file %s: %w", path, err)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	if line = bytes.TrimSpace(line); len(line) == 0 {
		return "", fmt.Errorf("read password file %s: %w", path, errors.New("empty"))
	}
	return string(line), nil
}

// LoadOrCreateLinkKey reads this edge's link key from path, or generates one into a
// new file (mode 0600) on first start.
func LoadOrCreateLinkKey(path string) (ed25519.PrivateKey, bool, error) {
	header := "umbrella fleet link key: Ed25519 seed of this edge's own key for the inter-edge link. Keep secret."
	seed, created, err := loadOrCreate(path, header, ed25519.SeedSize, func() []byte {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		return priv.Seed()
	})
	if err != nil {
		return nil, false, err
	}
	return ed25519.NewKeyFromSeed(seed), created, nil
}
