// Package all lists every transport this project ships. Adding a transport means one
// new package and one line here.
package all

import (
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/obfs4"
	"github.com/umbrella-edge/edge/transports/tcp"
	"github.com/umbrella-edge/edge/transports/utls"
)

// Registry returns a registry of every shipped transport.
func Registry() *transports.Registry {
	r, err := transports.NewRegistry(
		tcp.New(),
		obfs4.New(),
		utls.New(),
	)
	if err != nil {
		panic(err) // two shipped transports share a name: a programming error
	}
	return r
}
