// Package all lists every transport this project ships. Adding a transport means one
// new package and one line here.
package all

import (
	"crypto/x509"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/dns"
	"github.com/umbrella-edge/edge/transports/meek"
	"github.com/umbrella-edge/edge/transports/obfs4"
	"github.com/umbrella-edge/edge/transports/pt"
	"github.com/umbrella-edge/edge/transports/quic"
	"github.com/umbrella-edge/edge/transports/quicobfs"
	"github.com/umbrella-edge/edge/transports/tcp"
	"github.com/umbrella-edge/edge/transports/utls"
	"github.com/umbrella-edge/edge/transports/websocket"
	"github.com/umbrella-edge/edge/transports/webtunnel"
)

// Options are the local settings some transports take; none come from bridge lines.
type Options struct {
	// PT configures the programs the pt transport runs.
	PT pt.Config
	// Roots are the certificate authorities the TLS transports (utls, webtunnel,
	// websocket, meek, quic) check a server's certificate against when its bridge
	// line has no pin=, and dns a DoT or DoH resolver's; nil means the system's roots. A client's ca_file gives
	// trust.LoadCAFile's pool: the system's roots and the file's.
	Roots *x509.CertPool
}

// Names lists every shipped transport's name, as a registry of them does.
func Names() []string {
	r := Registry()
	defer r.Close()
	return r.Names()
}

// Registry returns a registry of every shipped transport with default options. Close
// it when done.
func Registry() *transports.Registry { return RegistryWith(Options{}) }

// RegistryWith returns a registry of every shipped transport, configured by o. Close it
// when done: the pt transport runs programs.
func RegistryWith(o Options) *transports.Registry {
	r, err := transports.NewRegistry(
		tcp.New(),
		obfs4.New(),
		pt.New(o.PT),
		utls.New(o.Roots),
		webtunnel.New(o.Roots),
		websocket.New(o.Roots),
		meek.New(o.Roots),
		quic.New(o.Roots),
		quicobfs.New(),
		dns.New(o.Roots),
	)
	if err != nil {
		panic(err) // two shipped transports share a name: a programming error
	}
	return r
}
