package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	goptlib "gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/goptlib"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/internal/relay"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/all"
)

// torService is the gateway service a Tor bridge's stream asks for unless its bridge
// line says service=.
const torService = "tor"

// argService is the bridge-line argument that names the gateway service; it is
// umbrella's, not the transport's, and goes to no transport.
const argService = "service"

func runTorPT(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("tor-pt", `
Runs umbrella as a Tor pluggable transport (a managed client proxy, pt-spec 1.0),
so Tor reaches its bridges over umbrella's transports and sessions. Tor starts it:

  UseBridges 1
  ClientTransportPlugin utls,obfs4,tcp exec /usr/bin/umbrella tor-pt
  Bridge utls 203.0.113.5:443 key=… secret=… servername=www.example.com

Each bridge line's arguments arrive with Tor's SOCKS request; umbrella opens a session
to that gateway and a stream to its service "tor" (or the one service= names), which
the operator points at a Tor bridge's ORPort. The PT protocol is on stdout; logs go to
stderr. It exits when Tor closes its stdin, or on SIGTERM or SIGINT.`, stderr)
	level := fs.String("log-level", "warn", "log `level` on stderr: debug, info, warn or error")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	log, err := cli.NewLogger(stderr, *level)
	if err != nil {
		return err
	}
	// goptlib reads the environment Tor sets and writes the protocol's lines to stdout,
	// including the ENV-ERROR or VERSION-ERROR a failed setup calls for.
	info, err := goptlib.ClientSetup(nil)
	if err != nil {
		return fmt.Errorf("tor-pt: %w", err)
	}
	if info.ProxyURL != nil {
		goptlib.ProxyError("umbrella does not support an upstream proxy")
		return errors.New("tor-pt: TOR_PT_PROXY is set; umbrella does not support an upstream proxy")
	}
	stateDir := ""
	if os.Getenv("TOR_PT_STATE_LOCATION") != "" {
		if stateDir, err = goptlib.MakeStateDir(); err != nil {
			return fmt.Errorf("tor-pt: state directory: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if os.Getenv("TOR_PT_EXIT_ON_STDIN_CLOSE") == "1" {
		// goptlib leaves this to us: Tor closes stdin to say "exit now".
		go func() {
			io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}

	p := &torPT{reg: all.Registry(), log: log, stateDir: stateDir, clients: make(map[string]*client.Client)}
	var wg sync.WaitGroup
	for _, method := range info.MethodNames {
		if _, err := p.reg.Get(method); err != nil {
			goptlib.CmethodError(method, "no such transport in umbrella")
			continue
		}
		ln, err := goptlib.ListenSocks("tcp", "127.0.0.1:0")
		if err != nil {
			goptlib.CmethodError(method, err.Error())
			continue
		}
		stop := context.AfterFunc(ctx, func() { ln.Close() })
		defer stop()
		goptlib.Cmethod(method, ln.Version(), ln.Addr())
		wg.Go(func() { p.serve(ctx, method, ln) })
	}
	goptlib.CmethodsDone()
	log.Info("tor-pt ready", "methods", strings.Join(info.MethodNames, ","))
	<-ctx.Done()
	log.Info("tor-pt stopping")
	// Tor expects its managed proxy gone at once: the listeners are closed (ctx) and
	// every relay ends with ctx; whatever still holds on past torPTShutdown is named
	// in the log, with the goroutines' stacks, and left to the process's exit.
	closed := make(chan struct{})
	go func() {
		wg.Wait()
		p.closeClients()
		p.reg.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(torPTShutdown):
		log.Warn("tor-pt: connections still closing; exiting anyway", "after", torPTShutdown)
		pprof.Lookup("goroutine").WriteTo(stderr, 1)
	}
	return nil
}

// torPTShutdown bounds the wait for connections and sessions to close on exit.
const torPTShutdown = 5 * time.Second

// torPT serves Tor's SOCKS requests, one umbrella client per bridge line.
type torPT struct {
	reg      *transports.Registry
	log      *slog.Logger
	stateDir string

	mu      sync.Mutex
	clients map[string]*client.Client // by bridge line
}

func (p *torPT) serve(ctx context.Context, method string, ln *goptlib.SocksListener) {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		conn, err := ln.AcceptSocks()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait for the next signal or a slot.
			p.log.Warn("tor-pt: accept", "transport", method, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
				continue
			}
		}
		conns.Go(func() { p.handle(ctx, method, conn) })
	}
}

// handle carries one Tor connection: the bridge line from the SOCKS request, a stream
// to its gateway's service, then bytes both ways.
func (p *torPT) handle(ctx context.Context, method string, conn *goptlib.SocksConn) {
	defer conn.Close()
	b, service, err := bridgeFromSOCKS(method, conn.Req.Target, conn.Req.Args)
	if err != nil {
		p.log.Warn("tor-pt: bad bridge line from Tor", "transport", method, "err", err)
		conn.Reject()
		return
	}
	c, err := p.client(b)
	if err != nil {
		p.log.Warn("tor-pt: bridge", "bridge", b.Redacted(), "err", err)
		conn.Reject()
		return
	}
	stream, err := c.Dial(ctx, service)
	if err != nil {
		p.log.Warn("tor-pt: no stream", "bridge", b.Redacted(), "service", service, "err", err)
		conn.RejectReason(socksReplyFor(err))
		return
	}
	if err := conn.Grant(nil); err != nil {
		stream.Close()
		return
	}
	stop := context.AfterFunc(ctx, func() { conn.Close(); stream.Close() })
	defer stop()
	relay.Splice(conn, stream, nil, nil)
}

// client returns the umbrella client for b, made at its first use, so Tor's
// connections to one bridge share one session.
func (p *torPT) client(b bridge.Line) (*client.Client, error) {
	key := b.String()
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c, nil
	}
	c, err := client.New(client.Config{Bridges: []bridge.Line{b}, Transports: p.reg, StateDir: p.stateDir, Logger: p.log})
	if err != nil {
		return nil, err
	}
	p.clients[key] = c
	return c, nil
}

func (p *torPT) closeClients() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.Close()
	}
}

// bridgeFromSOCKS rebuilds a bridge line from what Tor sent for it: the transport of
// the SOCKS port, the target address, and the arguments from the SOCKS credentials.
// service= is taken out for the stream; the line is then checked as any bridge line.
func bridgeFromSOCKS(method, target string, args goptlib.Args) (bridge.Line, string, error) {
	service := torService
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	line := []string{method, target}
	for _, k := range keys {
		vs := args[k]
		if len(vs) != 1 {
			return bridge.Line{}, "", fmt.Errorf("argument %s= given %d times", k, len(vs))
		}
		if k == argService {
			service = vs[0]
			continue
		}
		// A space would split one argument into two words of the line.
		if k == "" || strings.ContainsAny(k+vs[0], " \t\r\n\v\f") {
			return bridge.Line{}, "", fmt.Errorf("argument %q: empty, or has white space", shorten(k))
		}
		line = append(line, k+"="+vs[0])
	}
	if strings.ContainsAny(method+target, " \t\r\n\v\f") {
		return bridge.Line{}, "", errors.New("transport or address has white space")
	}
	b, err := bridge.Parse(strings.Join(line, " "))
	if err != nil {
		return bridge.Line{}, "", err
	}
	return b, service, nil
}

// socksReplyFor picks the SOCKS5 reply that tells Tor why no stream opened.
func socksReplyFor(err error) byte {
	switch {
	case errors.Is(err, session.ErrUnknownService):
		return goptlib.SocksRepConnectionNotAllowed
	case errors.Is(err, client.ErrAllBridgesFailed):
		return goptlib.SocksRepHostUnreachable
	}
	return goptlib.SocksRepGeneralFailure
}

// shorten keeps a value from Tor short enough for one line of an error.
func shorten(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
