// Package all lists every transport this project ships. Adding a transport means one
// new package and one line here.
package all

import (
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/meek"
	"github.com/umbrella-edge/edge/transports/obfs4"
	"github.com/umbrella-edge/edge/transports/pt"
	"github.com/umbrella-edge/edge/transports/tcp"
	"github.com/umbrella-edge/edge/transports/utls"
	"github.com/umbrella-edge/edge/transports/websocket"
	"github.com/umbrella-edge/edge/transports/webtunnel"
)

// Registry returns a registry of every shipped transport.
func Registry() *transports.Registry {
	r, err := transports.NewRegistry(
		tcp.New(),
		obfs4.New(),
		pt.New(pt.Config{}), // PT programs found in PATH; see pt.Config
		utls.New(),
		webtunnel.New(),
		websocket.New(),
		meek.New(),
	)
	if err != nil {
		panic(err) // two shipped transports share a name: a programming error
	}
	return r
}
