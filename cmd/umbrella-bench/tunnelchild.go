package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/umbrella-edge/edge/internal/labca"
)

// tunnelChildEnv, when set in the environment, makes the bench binary one side of a
// tunnel anchor, so that its CPU time is read apart from the bench's as ours is.
const tunnelChildEnv = "UMBRELLA_BENCH_TUNNEL_CHILD"

// tunnelOrder is what the parent tells a tunnel child on stdin.
type tunnelOrder struct {
	Kind     string `json:"kind"`   // tunnelTLS or tunnelQUIC
	Server   bool   `json:"server"` // the server side; else the client's local port
	Target   string `json:"target"` // server: the upstream; client: the tunnel server
	CertFile string `json:"cert"`   // server: its certificate chain
	KeyFile  string `json:"key"`    // server: its key
	CAFile   string `json:"ca"`     // client: the roots
	Listen   string `json:"listen"` // where to listen
}

// runTunnelChild reads its order from stdin's first line, serves it, prints
// "listening ADDR" on stdout, and serves until stdin closes.
func runTunnelChild(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	dec := json.NewDecoder(stdin)
	var o tunnelOrder
	if err := dec.Decode(&o); err != nil {
		return fmt.Errorf("read order: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var addr string
	var err error
	if o.Server {
		cert, lerr := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if lerr != nil {
			return lerr
		}
		addr, err = serveTunnel(ctx, o.Kind, o.Listen, o.Target, cert)
	} else {
		pem, rerr := os.ReadFile(o.CAFile)
		if rerr != nil {
			return rerr
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return errors.New("no certificate in the CA file")
		}
		addr, err = forward(ctx, o.Listen, tunnelDialer(o.Kind, o.Target, roots))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening %s\n", addr)
	io.Copy(io.Discard, stdin) // until the parent closes it
	return nil
}

// startTunnelPair runs a tunnel anchor's server in front of echo and its client's
// local port, each a child process running the bench binary.
func startTunnelPair(ctx context.Context, kind, dir, echo string) (*echoRun, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ca, err := labca.New("umbrella-bench anchors")
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "anchor-ca.pem")
	if err := ca.WriteFile(caFile); err != nil {
		return nil, err
	}
	certFile, keyFile, err := ca.WriteKeyPair(dir, tunnelServerName)
	if err != nil {
		return nil, err
	}
	start := func(o tunnelOrder) (*proc, string, error) {
		p, err := startProc(exe, nil, []string{tunnelChildEnv + "=1"}, true)
		if err != nil {
			return nil, "", err
		}
		if err := json.NewEncoder(p.stdin).Encode(o); err != nil {
			p.stop()
			return nil, "", err
		}
		line, err := p.waitLine(ctx, 30*time.Second, func(l string) bool { return strings.HasPrefix(l, "listening ") })
		if err != nil {
			p.stop()
			return nil, "", err
		}
		return p, strings.TrimPrefix(line, "listening "), nil
	}
	server, saddr, err := start(tunnelOrder{Kind: kind, Server: true, Target: echo, CertFile: certFile, KeyFile: keyFile, Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	client, local, err := start(tunnelOrder{Kind: kind, Target: saddr, CAFile: caFile, Listen: "127.0.0.1:0"})
	if err != nil {
		server.stop()
		return nil, err
	}
	return &echoRun{dial: dialTCP(local), pids: []int{client.pid(), server.pid()},
		stop: func() { client.stop(); server.stop() }}, nil
}

// inProcessTunnel is a tunnel anchor inside the bench, for the one-stream transfers
// that ours make against the in-process gateway: a server per backend service.
func inProcessTunnel(ctx context.Context, kind string, services map[string]string) (func(context.Context, string) (net.Conn, error), error) {
	ca, err := labca.New("umbrella-bench anchors")
	if err != nil {
		return nil, err
	}
	cert, err := ca.Issue(tunnelServerName)
	if err != nil {
		return nil, err
	}
	dialers := make(map[string]func(context.Context) (net.Conn, error))
	for name, upstream := range services {
		addr, err := serveTunnel(ctx, kind, "127.0.0.1:0", upstream, cert)
		if err != nil {
			return nil, err
		}
		dialers[name] = tunnelDialer(kind, addr, ca.Pool())
	}
	return func(ctx context.Context, service string) (net.Conn, error) {
		d, ok := dialers[service]
		if !ok {
			return nil, fmt.Errorf("no tunnel to service %q", service)
		}
		return d(ctx)
	}, nil
}
