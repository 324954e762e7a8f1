package config

import (
	"crypto/ed25519"

	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// Bridge is one parsed bridge line, in Tor's shape:
//
//	utls 203.0.113.5:443 key=<base64url Ed25519 public key> secret=<base64url 32 bytes> servername=www.example.com fp=chrome
//
// key= and secret= belong to the session layer; every other argument is the transport's.
type Bridge struct {
	Transport string
	Addr      string
	Key       ed25519.PublicKey
	Secret    session.Secret
	Args      transports.Args
}

// Endpoint is what the session's hello is bound to for this bridge.
func (b Bridge) Endpoint() session.Endpoint {
	return session.Endpoint{Transport: b.Transport, Address: b.Addr, ServerName: b.Args["servername"]}
}
