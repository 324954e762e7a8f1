// Package lab runs a censored network on loopback (a gateway with every transport, nginx
// as a CDN, the censor simulator in between) for the demo, the benchmarks and the
// end-to-end tests, which live here; StartGateway runs one gateway for a test. It is not
// part of a deployment.
package lab

import (
	"errors"
	"fmt"
	"os/exec"

	"github.com/umbrella-edge/edge/transports"
)

// ServerName is the TLS server name of every loopback listener that speaks TLS; the
// gateway fronts itself with a self-signed certificate for it.
const ServerName = "www.example.com"

// PTMethod is the Tor pluggable transport the pt listener runs, and PTProgram the
// Debian program that serves it.
const (
	PTMethod  = "obfs4"
	PTProgram = "obfs4proxy"
)

// ErrUnavailable is wrapped when a transport needs a program this machine lacks.
var ErrUnavailable = errors.New("not available on this machine")

// ListenerArgs returns the server arguments transport needs on a loopback gateway that
// is its own front (no nginx). A transport this package does not know is an error, so a
// new transport cannot silently drop out of the demo and the benchmarks.
func ListenerArgs(transport string) (transports.Args, error) {
	switch transport {
	case "tcp", "obfs4", "quicobfs":
		return transports.Args{}, nil
	case "dns":
		return transports.Args{"domain": DNSDomain}, nil
	case "utls", "webtunnel", "websocket", "meek", "quic":
		return transports.Args{"servername": ServerName}, nil
	case "pt":
		if _, err := exec.LookPath(PTProgram); err != nil {
			return nil, fmt.Errorf("pt: %s %w (apt-get install %s)", PTProgram, ErrUnavailable, PTProgram)
		}
		return transports.Args{"method": PTMethod}, nil
	}
	return nil, fmt.Errorf("lab: no loopback arguments for transport %q: add them in internal/lab", transport)
}

// Network is the network a transport's carriers use, "tcp" or "udp": the censor
// relays each bridge on a route of that network.
func Network(transport string) string {
	switch transport {
	case "quic", "quicobfs", "dns":
		return "udp"
	}
	return "tcp"
}
