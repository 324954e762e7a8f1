package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/proxy"

	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/ready"
)

// The anchors are what a user would pick instead of us, on the same echo harness: an
// app streams through a local port to the echo backend and back.

// errMissing: a program an anchor needs is not installed; the row says so.
var errMissing = errors.New("not installed")

// ssCipher is the AEAD Outline and most shadowsocks deployments use.
const ssCipher = "chacha20-ietf-poly1305"

// startShadowsocks runs ss-server and ss-tunnel (Debian's shadowsocks-libev): the app
// connects to ss-tunnel's port, which leads to echo through ss-server.
func startShadowsocks(ctx context.Context, echo string) (*echoRun, error) {
	for _, bin := range []string{"ss-server", "ss-tunnel"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s %w (apt-get install shadowsocks-libev)", bin, errMissing)
		}
	}
	serverAddr, err := freeport.TCP("127.0.0.1")
	if err != nil {
		return nil, err
	}
	local, err := freeport.TCP("127.0.0.1")
	if err != nil {
		return nil, err
	}
	sHost, sPort, _ := net.SplitHostPort(serverAddr)
	lHost, lPort, _ := net.SplitHostPort(local)
	var key [16]byte
	rand.Read(key[:])
	password := hex.EncodeToString(key[:])
	server, err := startProc("ss-server", []string{"-s", sHost, "-p", sPort, "-k", password, "-m", ssCipher}, nil, false)
	if err != nil {
		return nil, err
	}
	tunnel, err := startProc("ss-tunnel", []string{"-s", sHost, "-p", sPort, "-b", lHost, "-l", lPort,
		"-k", password, "-m", ssCipher, "-L", echo}, nil, false)
	if err != nil {
		server.stop()
		return nil, err
	}
	run := &echoRun{pids: []int{tunnel.pid(), server.pid()}, stop: func() { tunnel.stop(); server.stop() }}
	if err := waitTCP(ctx, serverAddr, server); err != nil {
		run.stop()
		return nil, err
	}
	if err := waitTCP(ctx, local, tunnel); err != nil {
		run.stop()
		return nil, err
	}
	run.dial = dialTCP(local)
	return run, nil
}

// obfs4Program is the obfs4 implementation Debian ships.
const obfs4Program = "obfs4proxy"

// startObfs4proxyPair runs obfs4proxy as a Tor managed proxy twice: a server in front
// of echo (its ORPort) and a client whose SOCKS5 port the app connects through, with
// the server's cert= in the SOCKS credentials as Tor passes bridge arguments.
func startObfs4proxyPair(ctx context.Context, dir, echo string) (*echoRun, error) {
	if _, err := exec.LookPath(obfs4Program); err != nil {
		return nil, fmt.Errorf("%s %w (apt-get install obfs4proxy)", obfs4Program, errMissing)
	}
	bind, err := freeport.TCP("127.0.0.1")
	if err != nil {
		return nil, err
	}
	managed := func(name string) []string {
		return []string{"TOR_PT_MANAGED_TRANSPORT_VER=1", "TOR_PT_EXIT_ON_STDIN_CLOSE=1",
			"TOR_PT_STATE_LOCATION=" + filepath.Join(dir, name)}
	}
	server, err := startProc(obfs4Program, nil, append(managed("obfs4-server"),
		"TOR_PT_SERVER_TRANSPORTS=obfs4", "TOR_PT_SERVER_BINDADDR=obfs4-"+bind, "TOR_PT_ORPORT="+echo,
		"TOR_PT_SERVER_TRANSPORT_OPTIONS=obfs4:iat-mode=0"), true)
	if err != nil {
		return nil, err
	}
	line, err := server.waitLine(ctx, 30*time.Second, func(l string) bool { return strings.HasPrefix(l, "SMETHOD obfs4 ") })
	if err != nil {
		server.stop()
		return nil, err
	}
	// SMETHOD obfs4 127.0.0.1:PORT ARGS:cert=…,iat-mode=0
	_, enc, _ := strings.Cut(line, "ARGS:")
	creds := strings.ReplaceAll(strings.Fields(enc + " ")[0], ",", ";")
	client, err := startProc(obfs4Program, nil, append(managed("obfs4-client"), "TOR_PT_CLIENT_TRANSPORTS=obfs4"), true)
	if err != nil {
		server.stop()
		return nil, err
	}
	run := &echoRun{pids: []int{client.pid(), server.pid()}, stop: func() { client.stop(); server.stop() }}
	line, err = client.waitLine(ctx, 30*time.Second, func(l string) bool { return strings.HasPrefix(l, "CMETHOD obfs4 ") })
	if err != nil {
		run.stop()
		return nil, err
	}
	f := strings.Fields(line) // CMETHOD obfs4 socks5 127.0.0.1:PORT
	if len(f) < 4 || f[2] != "socks5" {
		run.stop()
		return nil, fmt.Errorf("%s client: %q", obfs4Program, line)
	}
	// One NUL byte of password: everything fit in the username (Tor does the same).
	socks, err := proxy.SOCKS5("tcp", f[3], &proxy.Auth{User: creds, Password: "\x00"}, proxy.Direct)
	if err != nil {
		run.stop()
		return nil, err
	}
	run.dial = func(ctx context.Context) (net.Conn, error) {
		return socks.(proxy.ContextDialer).DialContext(ctx, "tcp", bind)
	}
	return run, nil
}

func waitTCP(ctx context.Context, addr string, p *proc) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ready.TCP(ctx, addr, p.exited); err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(p.cmd.Path), err, strings.TrimSpace(p.log.String()))
	}
	return nil
}

func dialTCP(addr string) func(context.Context) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
}
