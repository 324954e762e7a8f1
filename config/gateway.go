package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// DefaultLogLevel is the log level of a config that names none.
const DefaultLogLevel = "info"

// LoadGateway reads and parses the gateway config file at path; see ParseGateway. A
// config holding inline secrets is refused if other users can read it, like a key file.
func LoadGateway(path string, knownTransports []string) (*Gateway, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	g, err := ParseGateway(path, data, knownTransports)
	if err != nil {
		return nil, err
	}
	for i, s := range g.Secrets {
		if !looksInline(s) {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			field := fmt.Sprintf("secrets[%d]", i)
			return nil, g.Source.Wrap(field, fmt.Errorf(
				"inline secret in a file of mode %04o: %w; run: chmod 600 %s, or keep the secret in a file in state_dir",
				perm, ErrKeyFileMode, path))
		}
	}
	return g, nil
}

// ParseGateway parses and validates a gateway config. file names the config in errors
// and anchors relative paths (state_dir, decoy.dir). knownTransports are the names a
// listener may use (the registry's Names); nil accepts any well-formed name. Absent
// limits and log level get their defaults. The error lists every problem found, each a
// *FieldError naming file, line and field.
func ParseGateway(file string, data []byte, knownTransports []string) (*Gateway, error) {
	d := newDecoder(file)
	root := d.parseDocument(data)
	if root == nil && len(d.errs) > 0 {
		return nil, d.err()
	}
	g := &Gateway{}
	rootLine := 1
	if root != nil {
		rootLine = root.Line
		d.fields(root, "", map[string]func(*yaml.Node, string){
			"state_dir": func(n *yaml.Node, f string) { g.StateDir = d.str(n, f) },
			"secrets":   func(n *yaml.Node, f string) { g.Secrets = d.secrets(n, f) },
			"listeners": func(n *yaml.Node, f string) {
				d.list(n, f, func(item *yaml.Node, f string) {
					g.Listeners = append(g.Listeners, d.listener(item, f, knownTransports))
				})
			},
			"services": func(n *yaml.Node, f string) {
				g.Services = d.services(n, f)
				d.checkProbeName(g.Services, f)
			},
			"probe": func(n *yaml.Node, f string) { g.Probe = d.probe(n, f) },
			"decoy": func(n *yaml.Node, f string) { g.Decoy = d.decoy(n, f, file) },
			"admin": func(n *yaml.Node, f string) {
				if g.Admin = d.str(n, f); g.Admin != "" {
					d.check(n.Line, f, checkAdminAddr(g.Admin))
				}
			},
			"limits":      func(n *yaml.Node, f string) { g.Limits = d.limits(n, f) },
			"log":         func(n *yaml.Node, f string) { g.Log = d.log(n, f) },
			"pt_programs": func(n *yaml.Node, f string) { g.PTPrograms = d.ptPrograms(n, f) },
			"acme":        func(n *yaml.Node, f string) { g.ACME = d.acme(n, f, file) },
			"identity":    func(n *yaml.Node, f string) { g.Identity = d.identity(n, f) },
			"fleet": func(n *yaml.Node, f string) {
				if !isNull(n) {
					g.Fleet = d.fleet(n, f, file)
				}
			},
		})
	}
	d.requireDir(&g.StateDir, "state_dir", rootLine, file,
		"the directory for identity.key and secret files, such as /var/lib/umbrella")
	if len(g.Listeners) == 0 {
		d.missing("listeners", rootLine, "at least one listener")
	}
	if len(g.Services) == 0 {
		d.missing("services", rootLine, "at least one service, such as mls: 127.0.0.1:7000")
	}
	d.acmeServed(g)
	g.Limits.fillDefaults()
	g.Probe.fillDefaults()
	if g.Log.Level == "" {
		g.Log.Level = DefaultLogLevel
	}
	g.Source = d.src
	if err := d.err(); err != nil {
		return nil, err
	}
	return g, nil
}

func (l *Limits) fillDefaults() {
	if l.HandshakeTimeout == 0 {
		l.HandshakeTimeout = limits.DefaultHandshakeTimeout
	}
	if l.MaxSessions == 0 {
		l.MaxSessions = limits.DefaultMaxSessions
	}
	if l.MaxStreams == 0 {
		l.MaxStreams = session.DefaultMaxStreams
	}
	if l.ResumeGrace == 0 {
		l.ResumeGrace = session.DefaultResumeGrace
	}
	if l.ResumeBuffer == 0 {
		l.ResumeBuffer = session.DefaultResumeBuffer
	}
	if l.StreamOpenBurst == 0 {
		l.StreamOpenBurst = session.DefaultStreamOpenBurst
	}
	if l.StreamOpenRate == 0 {
		l.StreamOpenRate = session.DefaultStreamOpenRate
	}
	// MemoryBudget stays 0: the machine's memory is read where the gateway runs.
	if l.MaxHandshakes == 0 {
		l.MaxHandshakes = limits.DefaultMaxHandshakes
	}
	if l.FirstBytesTimeout == 0 {
		l.FirstBytesTimeout = limits.DefaultFirstBytesTimeout
	}
	if l.MaxHeld == 0 {
		l.MaxHeld = limits.DefaultMaxHeld
	}
}

// check records err, if any, against field.
func (d *decoder) check(line int, field string, err error) {
	if err != nil {
		d.fail(line, field, err)
	}
}

// missing records a required field that is absent or empty, at its key's line if the
// key is there, else at the line of the enclosing mapping.
func (d *decoder) missing(field string, parentLine int, want string) {
	if d.misspelt[field] {
		return // "did you mean field?" already says it
	}
	line, ok := d.src.Lines[field]
	if !ok {
		line = parentLine
	}
	d.fail(line, field, fmt.Errorf("%w: %s", ErrMissing, want))
}

// requireDir checks that a directory field is set and resolves it (see expandPath).
func (d *decoder) requireDir(dir *string, field string, parentLine int, file, want string) {
	if *dir == "" {
		d.missing(field, parentLine, want)
		return
	}
	d.expand(dir, field, file)
}

func (d *decoder) expand(dir *string, field, file string) {
	p, err := expandPath(*dir, file)
	if err != nil {
		d.fail(d.src.Lines[field], field, err)
		return
	}
	*dir = p
}

// secrets decodes the secrets list: inline base64url secrets are checked here, file
// names when ResolveSecrets reads them.
func (d *decoder) secrets(n *yaml.Node, path string) []string {
	var out []string
	first := make(map[string]string)
	d.list(n, path, func(item *yaml.Node, f string) {
		s := d.str(item, f)
		switch {
		case s == "":
			d.fail(item.Line, f, fmt.Errorf("%w: an inline base64url secret or a file name", ErrMissing))
			return
		case looksInline(s):
			if _, err := bridge.ParseSecret(s); err != nil {
				d.fail(item.Line, f, fmt.Errorf("inline secret: %w", err))
				return
			}
		}
		if prev, dup := first[s]; dup {
			d.failf(item.Line, f, "same secret as %s", prev)
			return
		}
		first[s] = f
		out = append(out, s)
	})
	return out
}

// looksInline tells an inline secret (43 base64url characters) from a file name, which
// has a dot or a slash or is much shorter; near misses count as inline so that a
// mangled secret is reported as one instead of as a missing file.
func looksInline(s string) bool {
	if len(s) < 40 || len(s) > 48 {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '-' && c != '_' && c != '=' {
			return false
		}
	}
	return true
}

func (d *decoder) listener(n *yaml.Node, path string, known []string) Listener {
	var l Listener
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"transport": func(v *yaml.Node, f string) {
			if l.Transport = d.str(v, f); l.Transport != "" {
				d.check(v.Line, f, checkTransport(l.Transport, known))
			}
		},
		"listen": func(v *yaml.Node, f string) {
			if l.Listen = d.str(v, f); l.Listen != "" {
				d.check(v.Line, f, transports.CheckListenAddr(l.Listen))
			}
		},
		"public": func(v *yaml.Node, f string) {
			if l.Public = d.str(v, f); l.Public != "" {
				d.check(v.Line, f, bridge.CheckAddr(l.Public))
			}
		},
		"args": func(v *yaml.Node, f string) { l.Args = d.args(v, f) },
	})
	if isNull(n) {
		d.fail(n.Line, path, fmt.Errorf("%w: an empty listener (want transport: and listen:)", ErrMissing))
		return l
	}
	if n.Kind != yaml.MappingNode {
		return l // reported by fields
	}
	if l.Transport == "" {
		d.missing(path+".transport", n.Line, "a transport name")
	}
	if l.Listen == "" {
		d.missing(path+".listen", n.Line, "the address to listen on, such as 0.0.0.0:443")
	} else if l.Public == "" && isWildcard(l.Listen) {
		d.missing(path+".public", n.Line, fmt.Sprintf(
			"the address clients dial, since listen %q does not say which of this machine's addresses that is", l.Listen))
	}
	return l
}

// checkAdminAddr accepts a loopback listen address only: metrics reveal traffic
// volumes, and that this host is a bridge, and must not be reachable from the
// censored network.
func checkAdminAddr(addr string) error {
	if err := transports.CheckListenAddr(addr); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("must be a loopback address (127.0.0.1:PORT or [::1]:PORT): metrics show that this host is a bridge")
	}
	return nil
}

func checkTransport(name string, known []string) error {
	if !bridge.IsTransportName(name) {
		return fmt.Errorf("%w %q: want letters, digits and _", transports.ErrUnknownTransport, name)
	}
	if known != nil && !slices.Contains(known, name) {
		return fmt.Errorf("%w %q (known: %s)", transports.ErrUnknownTransport, name, strings.Join(known, ", "))
	}
	return nil
}

// isWildcard reports whether a listen address binds every interface.
func isWildcard(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}

func (d *decoder) args(n *yaml.Node, path string) transports.Args {
	m := d.stringMap(n, path)
	for _, k := range sortedKeys(m) {
		v, f := m[k], join(path, k)
		switch {
		case !bridge.IsArgName(k):
			d.failf(d.src.Lines[f], f, "argument names are letters, digits, '_', '-' and '.'")
		case strings.ContainsFunc(v, unicode.IsControl):
			// Server options never go into bridge lines, so spaces (file names) are
			// fine; control characters are always a mistake.
			d.failf(d.src.Lines[f], f, "value has control characters")
		}
	}
	return m
}

func (d *decoder) services(n *yaml.Node, path string) map[string]string {
	m := d.stringMap(n, path)
	for _, name := range sortedKeys(m) {
		addr, f := m[name], join(path, name)
		line := d.src.Lines[f]
		if !IsServiceName(name) {
			d.failf(line, f, "service names are lowercase letters, digits and '-'")
			continue
		}
		if addr == "" {
			d.fail(line, f, fmt.Errorf("%w: the backend's host:port", ErrMissing))
			continue
		}
		d.check(line, f, transports.CheckHostPort(addr))
	}
	return m
}

// IsServiceName reports whether s can name a backend service: lowercase letters,
// digits and '-', as in "mls" or "probe".
func IsServiceName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (d *decoder) decoy(n *yaml.Node, path, file string) Decoy {
	var dc Decoy
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"dir": func(v *yaml.Node, f string) {
			dc.Dir = d.str(v, f)
			d.expand(&dc.Dir, f, file)
		},
		"proxy": func(v *yaml.Node, f string) {
			if dc.Proxy = d.str(v, f); dc.Proxy != "" {
				d.check(v.Line, f, checkProxyURL(dc.Proxy))
			}
		},
	})
	if dc.Dir != "" && dc.Proxy != "" {
		d.failf(n.Line, path, "dir and proxy both set: the decoy is either files or another site")
	}
	return dc
}

func checkProxyURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http:// or https:// URL")
	}
	return nil
}

func (d *decoder) limits(n *yaml.Node, path string) Limits {
	var l Limits
	nonNegative := func(v *yaml.Node, f string) int {
		i := d.integer(v, f)
		if i < 0 {
			d.failf(v.Line, f, "want 0 (the default) or more, got %d", i)
		}
		return i
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"handshake_timeout": func(v *yaml.Node, f string) {
			if l.HandshakeTimeout = d.duration(v, f); l.HandshakeTimeout < 0 {
				d.failf(v.Line, f, "want 0s (the default) or more, got %s", l.HandshakeTimeout)
			}
		},
		"max_sessions": func(v *yaml.Node, f string) { l.MaxSessions = nonNegative(v, f) },
		"max_streams":  func(v *yaml.Node, f string) { l.MaxStreams = nonNegative(v, f) },
		"resume_grace": func(v *yaml.Node, f string) {
			if l.ResumeGrace = d.duration(v, f); l.ResumeGrace < 0 {
				d.failf(v.Line, f, "want 0s (the default) or more, got %s", l.ResumeGrace)
			}
		},
		"resume_buffer": func(v *yaml.Node, f string) {
			if l.ResumeBuffer = d.integer(v, f); l.ResumeBuffer != 0 && l.ResumeBuffer < session.MinResumeBuffer {
				d.failf(v.Line, f, "want 0 (the default) or at least %d bytes, got %d", session.MinResumeBuffer, l.ResumeBuffer)
			}
		},
		"memory_budget": func(v *yaml.Node, f string) {
			if l.MemoryBudget = int64(d.integer(v, f)); l.MemoryBudget != 0 && l.MemoryBudget < limits.MinMemoryBudget {
				d.failf(v.Line, f, "want 0 (from this machine's memory) or at least %d bytes, got %d", limits.MinMemoryBudget, l.MemoryBudget)
			}
		},
		"stream_open_burst": func(v *yaml.Node, f string) { l.StreamOpenBurst = nonNegative(v, f) },
		"stream_open_rate":  func(v *yaml.Node, f string) { l.StreamOpenRate = nonNegative(v, f) },
		"max_handshakes":    func(v *yaml.Node, f string) { l.MaxHandshakes = nonNegative(v, f) },
		"first_bytes_timeout": func(v *yaml.Node, f string) {
			if l.FirstBytesTimeout = d.duration(v, f); l.FirstBytesTimeout != 0 && l.FirstBytesTimeout < limits.MinFirstBytesTimeout {
				d.failf(v.Line, f, "want 0s (the default) or at least %s, the floor for slow links, got %s", limits.MinFirstBytesTimeout, l.FirstBytesTimeout)
			}
		},
		"max_held": func(v *yaml.Node, f string) { l.MaxHeld = nonNegative(v, f) },
	})
	return l
}

func (d *decoder) log(n *yaml.Node, path string) Log {
	var l Log
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"level": func(v *yaml.Node, f string) {
			l.Level = d.str(v, f)
			switch l.Level {
			case "", "debug", "info", "warn", "error":
			default:
				d.failf(v.Line, f, "want debug, info, warn or error, got %s", describe(v))
			}
		},
		"client_ips": func(v *yaml.Node, f string) { l.ClientIPs = d.boolean(v, f) },
	})
	return l
}
