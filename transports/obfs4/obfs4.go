// Package obfs4 is the obfs4 transport, built on the reference implementation
// (gitlab.com/yawning/obfs4.git), wire-compatible with Tor's obfs4proxy and lyrebird.
// Bridge lines carry Tor's own arguments: cert= and iat-mode=.
package obfs4

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"

	"gitlab.com/yawning/obfs4.git/transports/base"
	obfs4lib "gitlab.com/yawning/obfs4.git/transports/obfs4"
	pt "gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/goptlib"

	"github.com/umbrella-edge/edge/transports"
)

// Name is the transport's name in bridge lines.
const Name = "obfs4"

// Bridge-line arguments, named as in Tor's obfs4 bridge lines.
const (
	argCert    = "cert"     // node ID and identity public key, base64 without padding
	argIATMode = "iat-mode" // 0 none, 1 split writes into MTU-sized bursts, 2 paranoid
)

// iatParanoid is iat-mode=2.
const iatParanoid = 2

// certLen is the decoded cert=: a 20-byte node ID then a 32-byte Curve25519 key.
const certLen = 20 + 32

// New returns the obfs4 transport. Clients need cert= and may give iat-mode= (default
// 0); listeners take iat-mode= and keep their identity in ListenConfig.StateDir.
func New() transports.Transport { return transports.Define(Name, newDialer, listen, checkListen) }

// newDialer checks the arguments once, so a bad bridge line fails when it is loaded.
func newDialer(addr string, args transports.Args) (*dialer, error) {
	if err := transports.CheckHostPort(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	ptArgs, err := clientArgs(args)
	if err != nil {
		return nil, err
	}
	cf, err := (&obfs4lib.Transport{}).ClientFactory("")
	if err != nil {
		return nil, err
	}
	if _, err := cf.ParseArgs(ptArgs); err != nil {
		return nil, err
	}
	return &dialer{addr: addr, cf: cf, args: ptArgs}, nil
}

// clientArgs checks a bridge line's obfs4 arguments and returns them as the obfs4
// library takes them. Errors are *transports.ArgError.
func clientArgs(args transports.Args) (*pt.Args, error) {
	if err := args.Unknown(argCert, argIATMode); err != nil {
		return nil, err
	}
	cert, err := args.Required(argCert)
	if err != nil {
		return nil, err
	}
	if err := checkCert(cert); err != nil {
		return nil, &transports.ArgError{Key: argCert, Err: err}
	}
	iat, err := args.Int(argIATMode, 0, 0, 2)
	if err != nil {
		return nil, err
	}
	ptArgs := pt.Args{}
	ptArgs.Add(argCert, cert)
	ptArgs.Add(argIATMode, strconv.Itoa(iat))
	return &ptArgs, nil
}

// checkCert accepts what obfs4proxy prints: 52 bytes in standard base64 with the
// trailing "==" cut off.
func checkCert(cert string) error {
	raw, err := base64.StdEncoding.Strict().DecodeString(cert + "==")
	if err != nil || len(raw) != certLen {
		return fmt.Errorf("want %d bytes of base64 as obfs4proxy prints them (70 characters)", certLen)
	}
	return nil
}

type dialer struct {
	addr string
	cf   base.ClientFactory
	args *pt.Args
}

// Dial connects and runs the obfs4 handshake. The client's session key is made anew
// for every connection (the library makes it in ParseArgs), so no two connections
// open with the same bytes.
func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	parsed, err := d.cf.ParseArgs(d.args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	raw, err := transports.DialTCP(ctx, d.addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	// The library's handshake knows no context: closing the socket is what stops it.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	oc, err := d.cf.Dial("tcp", d.addr, func(string, string) (net.Conn, error) { return raw, nil }, parsed)
	if !stop() {
		if oc != nil {
			oc.Close()
		}
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("%s: handshake: %w", Name, transports.ContextError(ctx, err))
	}
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("%s: handshake: %w", Name, err)
	}
	return newConn(oc, raw), nil
}
