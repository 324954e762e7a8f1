package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// acme decodes the acme section; acmeServed checks its domains against the listeners.
func (d *decoder) acme(n *yaml.Node, path, file string) ACME {
	var a ACME
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"domains": func(v *yaml.Node, f string) {
			d.list(v, f, func(item *yaml.Node, f string) {
				name := strings.ToLower(d.str(item, f))
				switch {
				case name == "":
					d.fail(item.Line, f, fmt.Errorf("%w: a DNS name such as www.example.com", ErrMissing))
				case net.ParseIP(name) != nil || !transports.IsHostName(name) || !strings.Contains(name, "."):
					d.failf(item.Line, f, "want a DNS name such as www.example.com, got %s", describe(item))
				case slices.Contains(a.Domains, name):
					d.failf(item.Line, f, "%s is listed twice", name)
				default:
					a.Domains = append(a.Domains, name)
				}
			})
		},
		"email": func(v *yaml.Node, f string) {
			if a.Email = d.str(v, f); a.Email != "" && !strings.Contains(a.Email, "@") {
				d.failf(v.Line, f, "want an address such as ops@example.com, got %s", describe(v))
			}
		},
		"directory": func(v *yaml.Node, f string) {
			if a.Directory = d.str(v, f); a.Directory != "" {
				if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
					d.failf(v.Line, f, "want the CA's https:// directory URL, got %s", describe(v))
				}
			}
		},
		"ca_file": func(v *yaml.Node, f string) {
			if a.CAFile = d.str(v, f); a.CAFile != "" {
				d.expand(&a.CAFile, f, file)
			}
		},
		"http": func(v *yaml.Node, f string) {
			if a.HTTP = d.str(v, f); a.HTTP != "" {
				d.check(v.Line, f, transports.CheckListenAddr(a.HTTP))
			}
		},
		"renew_before": func(v *yaml.Node, f string) {
			if a.RenewBefore = d.duration(v, f); a.RenewBefore < 0 {
				d.failf(v.Line, f, "want 0s (the default) or more, got %s", a.RenewBefore)
			}
		},
	})
	if len(a.Domains) == 0 && !isNull(n) && !d.failed(join(path, "domains")) {
		d.missing(join(path, "domains"), n.Line, "the servername= of the TLS listeners that get certificates")
	}
	return a
}

// acmeServed reports an ACME domain that no listener serves: the CA could not
// validate it through tls-alpn-01, and no client would be shown the certificate.
func (d *decoder) acmeServed(g *Gateway) {
	served := make(map[string]bool)
	for _, l := range g.Listeners {
		if l.Args[tlskit.ArgCert] == "" {
			served[strings.ToLower(l.Args[tlskit.ArgServerName])] = true
		}
	}
	for i, name := range g.ACME.Domains {
		f := fmt.Sprintf("acme.domains[%d]", i)
		if !served[name] {
			d.failf(d.src.Lines[f], f, "%s is the servername= of no TLS listener without cert=", name)
		}
	}
}
