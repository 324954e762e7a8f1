// Package quicobfs is QUIC whose every datagram is masked with a key from the bridge
// line, so that no middlebox can parse an Initial, a version or a server name: it
// looks like random UDP. It is quic's carrier under a masking net.PacketConn; it has
// no decoy, and answers nothing to datagrams that do not unmask.
package quicobfs

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/umbrella-edge/edge/internal/replay"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/quic"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// Name is the transport's name in bridge lines.
const Name = "quicobfs"

// argCert is the obfuscation key, base64url. It is named as obfs4's cert=, the other
// transport credential that lets a censor recognise and probe a bridge, so that
// bridge lines logged redacted hide it too.
const argCert = "cert"

// tlsName names the listener's self-signed certificate, which nobody sees: the
// handshake is masked and the client sends no server name.
const tlsName = "quicobfs.invalid"

// Client Initial sizes are drawn per carrier from [minInitial, maxInitial], so the
// first datagram's size (the packet plus the salt) is no constant to match on.
// 1200 is QUIC's minimum.
const (
	minInitial = 1200
	maxInitial = 1252
)

// New returns the quicobfs transport.
//
// Client arguments: cert= (the listener's 32-byte obfuscation key, base64url).
// Listeners take no arguments: the key is generated in the state directory on first
// start and given in their bridge lines.
func New() transports.Transport { return transports.Define(Name, newDialer, listen, checkListen) }

func newDialer(addr string, args transports.Args) (*quic.Dialer, error) {
	if err := args.Unknown(argCert); err != nil {
		return nil, err
	}
	if err := transports.CheckHostPort(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	v, err := args.Required(argCert)
	if err != nil {
		return nil, err
	}
	key, err := DecodeKey(v)
	if err != nil {
		return nil, &transports.ArgError{Key: argCert, Err: err}
	}
	m, err := newMasker(key)
	if err != nil {
		return nil, err
	}
	return &quic.Dialer{
		Addr: addr,
		TLS:  clientTLS(),
		Wrap: m.client,
		Tune: func(c *quicgo.Config) {
			c.InitialPacketSize = uint16(minInitial + rand.IntN(maxInitial-minInitial+1))
		},
	}, nil
}

// clientTLS is the TLS inside the masked datagrams. The certificate is not checked:
// the listener's is made anew at each start and no bridge line could pin it, and no
// censor gets to present one of its own, since without cert= (the masking key) it can
// neither read nor answer a datagram. The session layer inside pins the gateway's
// Ed25519 key as on every transport.
func clientTLS() *tls.Config {
	return &tls.Config{NextProtos: []string{quic.ALPN}, MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
}

func listen(ctx context.Context, cfg transports.ListenConfig) (transports.Listener, error) {
	if err := cfg.Args.Unknown(); err != nil {
		return nil, err
	}
	key, err := loadOrCreateKey(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	m, err := newMasker(key)
	if err != nil {
		return nil, err
	}
	tlsConfig, _, err := tlskit.ServerConfig(transports.Args{"servername": tlsName}, "")
	if err != nil {
		return nil, err
	}
	tlsConfig.NextProtos = []string{quic.ALPN}
	filter, err := openFilter(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	ln, err := quic.Listen(ctx, quic.ServerConfig{
		Addr:       cfg.Addr,
		TLS:        tlsConfig,
		Wrap:       m.server(filter, time.Now),
		BridgeArgs: transports.Args{argCert: EncodeKey(key)},
		Logger:     cfg.Logger,
	})
	if err != nil {
		filter.Close()
		return nil, err
	}
	return &listener{Listener: ln, filter: filter}, nil
}

// replayFile keeps a listener's replay filter in its state directory, so that a
// restarted listener still answers no first datagram it answered before.
const replayFile = "quicobfs.replay"

func openFilter(stateDir string) (*replay.Filter, error) {
	if stateDir == "" {
		return replay.New(replay.Config{}), nil
	}
	f, err := replay.Open(filepath.Join(stateDir, replayFile), replay.Config{})
	if err != nil {
		return nil, fmt.Errorf("quicobfs: %w", err)
	}
	return f, nil
}

// listener releases its replay filter when it closes; datagrams that open a connection
// after that are dropped.
type listener struct {
	transports.Listener
	filter *replay.Filter
}

func (l *listener) Close() error {
	err := l.Listener.Close()
	l.filter.Close()
	return err
}
