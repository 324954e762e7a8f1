package config

import (
	"fmt"
	"net"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/transports"
)

// LoadClient reads and parses the client config file at path; see ParseClient.
func LoadClient(path string) (*Client, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return ParseClient(path, data)
}

// ParseClient parses and validates a client config. file names the config in errors and
// anchors a relative state_dir. Each bridge is a bridge-line string, parsed by
// bridge.Parse; its errors name the list item and the bridge-line field:
//
//	client.yaml:5: bridges[2]: bridge line: secret=: want 32 bytes of base64url, got 31
//
// The error lists every problem found, each a *FieldError.
func ParseClient(file string, data []byte) (*Client, error) {
	d := newDecoder(file)
	root := d.parseDocument(data)
	if root == nil && len(d.errs) > 0 {
		return nil, d.err()
	}
	c := &Client{}
	rootLine := 1
	if root != nil {
		rootLine = root.Line
		d.fields(root, "", map[string]func(*yaml.Node, string){
			"state_dir": func(n *yaml.Node, f string) {
				c.StateDir = d.str(n, f)
				d.expand(&c.StateDir, f, file)
			},
			"bridges": func(n *yaml.Node, f string) {
				d.list(n, f, func(item *yaml.Node, f string) {
					line := d.str(item, f)
					if item.Kind != yaml.ScalarNode {
						return
					}
					b, err := bridge.Parse(line)
					if err != nil {
						d.fail(item.Line, f, err)
						return
					}
					c.Bridges = append(c.Bridges, b)
				})
			},
			"socks":       func(n *yaml.Node, f string) { c.SOCKS = d.localAddr(n, f) },
			"http":        func(n *yaml.Node, f string) { c.HTTP = d.localAddr(n, f) },
			"forwards":    func(n *yaml.Node, f string) { c.Forwards = d.forwards(n, f) },
			"hosts":       func(n *yaml.Node, f string) { c.Hosts = d.hosts(n, f) },
			"log":         func(n *yaml.Node, f string) { c.Log = d.log(n, f) },
			"pt_programs": func(n *yaml.Node, f string) { c.PTPrograms = d.ptPrograms(n, f) },
			"idle": func(n *yaml.Node, f string) {
				switch c.Idle = d.str(n, f); c.Idle {
				case "", "foreground", "background":
				default:
					d.failf(n.Line, f, "want foreground or background, got %s", describe(n))
				}
			},
			"ca_file": func(n *yaml.Node, f string) {
				c.CAFile = d.str(n, f)
				d.expand(&c.CAFile, f, file)
			},
		})
	}
	if len(c.Bridges) == 0 && !d.failed("bridges") {
		d.missing("bridges", rootLine, "at least one bridge line")
	}
	d.distinctListeners(c)
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	c.Source = d.src
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// failed reports whether a problem was already recorded inside field, so that a list of
// bad items is not also reported as empty.
func (d *decoder) failed(field string) bool {
	for _, fe := range d.errs {
		f := fe.Field
		if len(f) > len(field) && f[:len(field)] == field && (f[len(field)] == '[' || f[len(field)] == '.') {
			return true
		}
	}
	return false
}

// localAddr decodes an address a local proxy listens on; empty means off.
func (d *decoder) localAddr(n *yaml.Node, field string) string {
	addr := d.str(n, field)
	if addr != "" {
		d.check(n.Line, field, transports.CheckListenAddr(addr))
	}
	return addr
}

func (d *decoder) forwards(n *yaml.Node, path string) map[string]string {
	m := d.stringMap(n, path)
	for _, addr := range sortedKeys(m) {
		service, f := m[addr], join(path, addr)
		d.check(d.src.Lines[f], f, transports.CheckListenAddr(addr))
		d.check(d.src.Lines[f], f, checkService(service))
	}
	return m
}

func (d *decoder) hosts(n *yaml.Node, path string) map[string]string {
	m := d.stringMap(n, path)
	for _, host := range sortedKeys(m) {
		service, f := m[host], join(path, host)
		if !transports.IsHostName(host) {
			d.failf(d.src.Lines[f], f, "want a host name such as chat.example.org")
		}
		d.check(d.src.Lines[f], f, checkService(service))
	}
	return m
}

// ptPrograms decodes pt_programs: method names to absolute program paths.
func (d *decoder) ptPrograms(n *yaml.Node, path string) map[string]string {
	m := d.stringMap(n, path)
	for _, method := range sortedKeys(m) {
		f := join(path, method)
		if !filepath.IsAbs(m[method]) {
			d.failf(d.src.Lines[f], f, "want an absolute path to the program, such as /usr/bin/lyrebird")
		}
	}
	return m
}

func checkService(name string) error {
	if name == "" {
		return fmt.Errorf("%w: a service name", ErrMissing)
	}
	if !IsServiceName(name) {
		return fmt.Errorf("service %q: want lowercase letters, digits and '-'", shorten(name))
	}
	return nil
}

// distinctListeners reports two local proxies configured on one address, which would
// otherwise only show as "address already in use" when the client starts.
func (d *decoder) distinctListeners(c *Client) {
	owner := make(map[string]string)
	claim := func(addr, field string) {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
			return
		}
		if prev, dup := owner[addr]; dup {
			d.failf(d.src.Lines[field], field, "address %s is also %s", addr, prev)
			return
		}
		owner[addr] = field
	}
	claim(c.SOCKS, "socks")
	claim(c.HTTP, "http")
	for _, addr := range sortedKeys(c.Forwards) {
		claim(addr, join("forwards", addr))
	}
}
