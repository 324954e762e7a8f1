package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/all"
)

// inProcess is a gateway in the bench's own process, with one listener per measured
// transport, in front of the bench's backends. It is its own front: the web transports
// that sit behind nginx in production are measured without it.
type inProcess struct {
	registry *transports.Registry
	backends *backends
	bridges  []bridge.Line // one per transport, in the order asked for
	// dnsBridge is the dns listener's line, naming the listener itself: the dns step
	// puts a resolver in front of it. The other steps leave it out (its channel is
	// narrow by design; its rows are the dns step's).
	dnsBridge *bridge.Line
	// leftOut says, per transport, why it is not measured (a program this machine lacks).
	leftOut  []string
	stateDir string
	cancel   context.CancelFunc
	served   chan error
}

// startInProcess starts the gateway with a listener on host for each of names; no
// names means every registered transport.
func startInProcess(ctx context.Context, host string, names []string) (_ *inProcess, err error) {
	ip := &inProcess{registry: all.Registry(), served: make(chan error, 1)}
	if len(names) == 0 {
		names = ip.registry.Names()
	}
	defer func() {
		if err != nil {
			ip.Close()
		}
	}()
	if ip.backends, err = startBackends(ctx); err != nil {
		return nil, err
	}
	if ip.stateDir, err = os.MkdirTemp("", "umbrella-bench-"); err != nil {
		return nil, err
	}
	_, identity, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var secret session.Secret
	rand.Read(secret[:])
	cfg := gateway.Config{
		Identity: identity,
		Secrets:  []session.Secret{secret},
		Services: ip.backends.services(),
		StateDir: ip.stateDir,
	}
	for _, name := range names {
		t, err := ip.registry.Get(name)
		if err != nil {
			return nil, err
		}
		args, err := lab.ListenerArgs(name)
		if errors.Is(err, lab.ErrUnavailable) {
			ip.leftOut = append(ip.leftOut, err.Error())
			continue
		}
		if err != nil {
			return nil, err
		}
		cfg.Listeners = append(cfg.Listeners, gateway.ListenerConfig{
			Transport: t, Listen: net.JoinHostPort(host, "0"), Args: args,
		})
	}
	if len(cfg.Listeners) == 0 {
		return nil, fmt.Errorf("no transport to measure: %v", ip.leftOut)
	}
	g, err := gateway.Listen(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("start in-process gateway: %w", err)
	}
	for _, b := range g.Bridges() {
		if lab.ViaResolver(b.Transport) {
			ip.dnsBridge = &b
			continue
		}
		ip.bridges = append(ip.bridges, b)
	}
	var gctx context.Context
	gctx, ip.cancel = context.WithCancel(ctx)
	go func() { ip.served <- g.Serve(gctx) }()
	return ip, nil
}

// Close stops the gateway (closing its sessions at once), the backends and the
// transports.
func (ip *inProcess) Close() {
	if ip.cancel != nil {
		ip.cancel()
		<-ip.served
	}
	if ip.backends != nil {
		ip.backends.Close()
	}
	if ip.stateDir != "" {
		os.RemoveAll(ip.stateDir)
	}
	ip.registry.Close()
}

// A path is one way of reaching a backend service: directly over TCP (the baseline) or
// through a transport, a session and the gateway.
type path struct {
	name string
	open func(ctx context.Context, service string) (net.Conn, error)
	done func() // releases what open needs (a client and its session)
}

const rawTCP = "raw TCP"

// paths returns the raw TCP baseline followed by one path per transport; close each
// path's done when finished with it.
func (ip *inProcess) paths() ([]path, error) {
	services := ip.backends.services()
	var d net.Dialer
	ps := []path{{
		name: rawTCP,
		open: func(ctx context.Context, service string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", services[service])
		},
		done: func() {},
	}}
	for _, b := range ip.bridges {
		c, err := client.New(client.Config{Bridges: []bridge.Line{b}, Transports: ip.registry})
		if err != nil {
			for _, p := range ps {
				p.done()
			}
			return nil, err
		}
		ps = append(ps, path{name: b.Transport, open: c.Dial, done: func() { c.Close() }})
	}
	return ps, nil
}

// handshaker opens sessions to one bridge the way a client does: carrier dial, then
// session handshake.
type handshaker struct {
	bridge bridge.Line
	dialer transports.Dialer
}

func newHandshaker(reg *transports.Registry, b bridge.Line) (*handshaker, error) {
	t, err := reg.Get(b.Transport)
	if err != nil {
		return nil, err
	}
	d, err := t.NewDialer(b.Addr, b.Args)
	if err != nil {
		return nil, fmt.Errorf("%s dialer for %s: %w", b.Transport, b.Addr, err)
	}
	return &handshaker{bridge: b, dialer: d}, nil
}

func (h *handshaker) open(ctx context.Context) (*session.Session, error) {
	conn, err := h.dialer.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", h.bridge.Transport, h.bridge.Addr, err)
	}
	sess, err := session.Client(ctx, conn, &session.ClientConfig{
		GatewayKey: h.bridge.Key,
		Secret:     h.bridge.Secret,
		Endpoint:   h.bridge.Endpoint(),
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("session handshake over %s: %w", h.bridge.Transport, err)
	}
	return sess, nil
}
