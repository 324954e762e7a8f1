// Package clientcmd is the client command that people run, shared by `umbrella client`
// and the client-only binary `umbrella-client`: local proxies in front of client.Client.
package clientcmd

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/client/proxy"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/transports/all"
	"github.com/umbrella-edge/edge/transports/pt"
	"github.com/umbrella-edge/edge/transports/trust"
)

// Run runs the client command, invoked as usageName ("umbrella client"), with args.
func Run(ctx context.Context, usageName string, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(usageName, `
Runs the client: keeps a post-quantum session to a gateway over the best bridge line
that works on this network, moves it to another bridge without closing the apps'
connections when a censor blocks the one in use, and serves local proxies for apps on
this machine:
  socks:    SOCKS5; the host an app CONNECTs to names a service ("mls") or is mapped to
            one by hosts: in the config; nothing else is reachable
  http:     HTTP CONNECT, same rule
  forwards: plain ports, each leading to one service
It prints which transport carries the session whenever that changes, and says so when
every bridge is blocked (it keeps retrying). With state_dir: set, it remembers per
network which bridge worked and tries that one first next time.`, stderr)
	cfgPath := fs.String("config", "", "client YAML config `file` (required unless --bridges is given)")
	// Parsed after the flags, so that an error does not repeat the secrets in them
	// as the flag package's would.
	var given []string
	fs.Func("bridges", "a share `code` (UMBRELLA:1:…) or a bridge line, used before the config's bridges; may be repeated. Without --config, the client serves SOCKS5 on "+defaultSOCKS, func(s string) error {
		given = append(given, s)
		return nil
	})
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" && len(given) == 0 {
		fs.Usage()
		return errors.New("client: --config or --bridges is required")
	}
	cc, err := loadClientConfig(*cfgPath, given)
	if err != nil {
		return err
	}
	log, err := cli.NewLogger(stderr, cc.Log.Level)
	if err != nil {
		return err
	}
	var roots *x509.CertPool // nil: the system's
	if cc.CAFile != "" {
		if roots, err = trust.LoadCAFile(cc.CAFile); err != nil {
			return cc.Source.Wrap("ca_file", err)
		}
	}
	reg := all.RegistryWith(all.Options{
		PT:    pt.Config{Binaries: cc.PTPrograms, Logger: log.With("transport", "pt")},
		Roots: roots,
	})
	defer reg.Close() // after the client's: its sessions end before the pt programs do
	idle := client.Foreground
	if cc.Idle == "background" {
		idle = client.Background
	}
	c, err := client.New(client.Config{
		Bridges:    cc.Bridges,
		Transports: reg,
		StateDir:   cc.StateDir,
		Idle:       idle,
		Logger:     log,
		OnEvent: func(e client.Event) {
			if line := eventLine(e, len(cc.Bridges)); line != "" {
				fmt.Fprintln(stdout, line)
			}
		},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	dial := func(ctx context.Context, service string) (net.Conn, error) {
		conn, err := c.Dial(ctx, service)
		if errors.Is(err, client.ErrAllBridgesFailed) {
			return nil, fmt.Errorf("%w: %w", proxy.ErrUnreachable, err)
		}
		return conn, err
	}
	resolve := serviceResolver(cc.Hosts)

	type server struct {
		name, addr string
		handler    proxy.Handler
	}
	var servers []server
	if cc.SOCKS != "" {
		servers = append(servers, server{"socks5", cc.SOCKS, &proxy.SOCKS5{Dial: dial, Resolve: resolve}})
	}
	if cc.HTTP != "" {
		servers = append(servers, server{"http-connect", cc.HTTP, &proxy.HTTPConnect{Dial: dial, Resolve: resolve}})
	}
	for addr, service := range cc.Forwards {
		servers = append(servers, server{"forward:" + service, addr, &proxy.Forward{Dial: dial, Service: service}})
	}
	if len(servers) == 0 {
		return fmt.Errorf("%s: nothing to serve (set socks:, http: or forwards:)", *cfgPath)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(servers))
	for _, s := range servers {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("%s on %s: %w", s.name, s.addr, err)
		}
		log.Info("proxy listening", "kind", s.name, "addr", ln.Addr().String())
		srv := &proxy.Server{Handler: s.handler, Logger: log.With("proxy", s.name)}
		wg.Go(func() {
			if err := srv.Serve(ctx, ln); err != nil {
				errs <- fmt.Errorf("%s: %w", s.name, err)
				cancel()
			}
		})
	}
	// Connect at once, so the log shows the active transport (and any failure) before
	// an app's first request waits on it.
	go c.Connect(ctx)
	wg.Wait()
	close(errs)
	return <-errs
}

// defaultSOCKS is where a client started with --bridges alone serves SOCKS5: the port
// Tor Browser's and most apps' SOCKS settings suggest.
const defaultSOCKS = "127.0.0.1:1080"

// loadClientConfig reads the config file with the bridges given on the command line,
// or, without a file, makes the config of a SOCKS5 proxy on defaultSOCKS.
func loadClientConfig(path string, given []string) (*config.Client, error) {
	var lines []bridge.Line
	for i, s := range given {
		l, err := bridge.ParseLines(s)
		if err != nil {
			return nil, fmt.Errorf("client: --bridges %d: %w", i+1, err)
		}
		lines = append(lines, l...)
	}
	if path != "" {
		return config.LoadClientWith(path, lines)
	}
	return &config.Client{Bridges: lines, SOCKS: defaultSOCKS, Log: config.Log{Level: config.DefaultLogLevel}}, nil
}

// eventLine is what the client prints for a person when its carrier changes: the
// active transport, a loss, or every bridge blocked. Other events only go to the log.
func eventLine(e client.Event, bridges int) string {
	switch e.Kind {
	case client.EventActive:
		return fmt.Sprintf("active transport: %s (bridge %d, connected in %v)", e.Name, e.Bridge, roundDuration(e.Took))
	case client.EventResumed:
		return fmt.Sprintf("active transport: %s (bridge %d, session resumed in %v, connections kept)", e.Name, e.Bridge, roundDuration(e.Took))
	case client.EventLost:
		return fmt.Sprintf("transport %s lost (bridge %d: %v); moving to another bridge", e.Name, e.Bridge, e.Err)
	case client.EventEnded:
		return fmt.Sprintf("session ended, open connections closed: %v", e.Err)
	case client.EventBlocked:
		return fmt.Sprintf("all %d bridges blocked, retrying in %v", bridges, e.Retry.Round(100*time.Millisecond))
	case client.EventClock:
		if e.Skew == 0 {
			return "this device's clock is right again"
		}
		return fmt.Sprintf("this device's clock is %s: connected with the gateway's time; set the clock to the network's time", failure.SkewText(e.Skew))
	}
	return ""
}

func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// serviceName is the shape of a gateway service name.
var serviceName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// serviceResolver maps an app's host to a service: a hosts: entry, or a host that is
// itself shaped like a service name. The gateway refuses services it does not have.
func serviceResolver(hosts map[string]string) proxy.Resolver {
	static := proxy.StaticResolver(hosts)
	return func(host string) (string, bool) {
		if s, ok := static(host); ok {
			return s, true
		}
		return host, serviceName.MatchString(host)
	}
}
