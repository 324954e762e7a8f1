package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/gateway/fleet"
	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/all"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/pt"
)

// bridgesFile is where a running gateway writes its bridge lines (mode 0600), for
// 'umbrella bridges' to print.
const bridgesFile = "bridges.txt"

func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gateway", `
Runs an edge gateway: listens on the transports of the config file, admits clients
that hold a bridge secret, and connects their streams to the named backend services.
On first start it generates its identity key and a bridge secret into state_dir.
SIGTERM or Ctrl-C stops accepting and drains established sessions.

--check tests the config instead, as nginx -t does: the file, its key files and
their modes, the decoy, and each listener's arguments and files, starting nothing.
It prints every problem as file:line: field: what, and exits 1 if there is one.`, stderr)
	cfgPath := fs.String("config", "", "gateway YAML config `file` (required)")
	check := fs.Bool("check", false, "test the config, its files and its listeners' arguments, and exit without starting")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fs.Usage()
		return errors.New("gateway: --config is required")
	}
	if *check {
		return checkGateway(*cfgPath, stdout, stderr)
	}
	gc, err := config.LoadGateway(*cfgPath, all.Names())
	if err != nil {
		return err
	}
	log, err := cli.NewLogger(stderr, gc.Log.Level)
	if err != nil {
		return err
	}
	reg := all.RegistryWith(all.Options{PT: pt.Config{Binaries: gc.PTPrograms, Logger: log.With("transport", "pt")}})
	defer reg.Close()
	gcfg, err := gatewayConfig(gc, reg)
	if err != nil {
		return err
	}
	gcfg.Logger = log
	certs, err := newACME(gc, log)
	if err != nil {
		return err
	}
	if certs != nil {
		gcfg.Certificates = certs
	}
	if gc.Fleet != nil {
		f, err := openFleet(ctx, gc, gcfg.Identity, log)
		if err != nil {
			return err
		}
		defer f.Close() // after Serve: the carriers it relays end last
		gcfg.Fleet = f
	}

	g, err := gateway.Listen(ctx, gcfg)
	if err != nil {
		return err
	}
	if certs != nil {
		stopACME, err := runACME(ctx, certs, gc.ACME.HTTP)
		if err != nil {
			return err
		}
		defer stopACME()
	}
	if err := writeBridges(gc.StateDir, g.Bridges()); err != nil {
		return err
	}
	for _, b := range g.Bridges() {
		log.Info("listening", "bridge", b.Redacted())
	}
	log.Info("gateway ready", "bridge_lines", "umbrella bridges --config "+*cfgPath, "memory_budget", gcfg.MemoryBudget)

	if gc.Admin != "" {
		stopAdmin, err := serveAdmin(gc.Admin, g.AdminHandler())
		if err != nil {
			return err
		}
		defer stopAdmin()
		log.Info("admin listening", "addr", gc.Admin, "paths", "/metrics /healthz")
	}
	go reloadOnHangup(ctx, *cfgPath, reg, g, gcfg.Fleet, log)
	return g.Serve(ctx)
}

// reloadOnHangup re-reads the config file on SIGHUP and applies its secrets and limits
// to new carriers, and a fleet's revoked link keys: an operator revokes a leaked secret
// without dropping anyone else. Listeners and services need a restart.
func reloadOnHangup(ctx context.Context, path string, reg *transports.Registry, g *gateway.Gateway, f *fleet.Fleet, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		err := func() error {
			gc, err := config.LoadGateway(path, reg.Names())
			if err != nil {
				return err
			}
			secrets, err := config.ResolveSecrets(gc)
			if err != nil {
				return err
			}
			err = g.Reload(gateway.Policy{
				Secrets:          secrets,
				HandshakeTimeout: gc.Limits.HandshakeTimeout,
				MaxSessions:      gc.Limits.MaxSessions,
				MaxStreams:       gc.Limits.MaxStreams,
				ResumeGrace:      gc.Limits.ResumeGrace,
				ResumeBuffer:     gc.Limits.ResumeBuffer,
				MemoryBudget:     memoryBudget(gc.Limits),
				StreamOpenBurst:  gc.Limits.StreamOpenBurst,
				StreamOpenRate:   float64(gc.Limits.StreamOpenRate),
			})
			if err != nil {
				return err
			}
			revokeLinkKeys(ctx, f, gc, log)
			return writeBridges(gc.StateDir, g.Bridges())
		}()
		if err != nil {
			log.Error("reload failed; keeping the running configuration", "err", err)
			continue
		}
		log.Info("reloaded secrets and limits (listeners and services need a restart)")
	}
}

// gatewayConfig turns a parsed config file into the gateway's runtime config, loading
// or generating keys in the state directory.
func gatewayConfig(gc *config.Gateway, reg *transports.Registry) (gateway.Config, error) {
	if err := os.MkdirAll(gc.StateDir, 0o700); err != nil {
		return gateway.Config{}, fmt.Errorf("state_dir: %w", err)
	}
	identity, rotation, err := config.ResolveIdentity(gc)
	if err != nil {
		return gateway.Config{}, err
	}
	secrets, err := config.ResolveSecrets(gc)
	if err != nil {
		return gateway.Config{}, err
	}
	var decoyHandler http.Handler
	if gc.Decoy.Dir != "" || gc.Decoy.Proxy != "" {
		if decoyHandler, err = decoy.NewHandler(gc.Decoy.Dir, gc.Decoy.Proxy); err != nil {
			return gateway.Config{}, fmt.Errorf("decoy: %w", err)
		}
	}
	cfg := gateway.Config{
		Identity:         identity,
		Rotation:         rotation,
		Secrets:          secrets,
		Services:         gc.Services,
		Decoy:            decoyHandler,
		StateDir:         gc.StateDir,
		HandshakeTimeout: gc.Limits.HandshakeTimeout,
		MaxSessions:      gc.Limits.MaxSessions,
		MaxStreams:       gc.Limits.MaxStreams,
		ResumeGrace:      gc.Limits.ResumeGrace,
		ResumeBuffer:     gc.Limits.ResumeBuffer,
		MemoryBudget:     memoryBudget(gc.Limits),
		StreamOpenBurst:  gc.Limits.StreamOpenBurst,
		StreamOpenRate:   float64(gc.Limits.StreamOpenRate),
		LogClientIPs:     gc.Log.ClientIPs,
		Probe:            gateway.ProbeConfig{Off: !gc.Probe.On(), SessionRate: gc.Probe.SessionRate, Rate: gc.Probe.Rate},
	}
	cfg.MaxHandshakes = gc.Limits.MaxHandshakes
	cfg.FirstBytesTimeout = gc.Limits.FirstBytesTimeout
	cfg.MaxHeld = gc.Limits.MaxHeld
	for _, l := range gc.Listeners {
		t, err := reg.Get(l.Transport)
		if err != nil {
			return gateway.Config{}, err
		}
		cfg.Listeners = append(cfg.Listeners, gateway.ListenerConfig{
			Transport: t, Listen: l.Listen, Public: l.Public, Args: l.Args,
		})
	}
	return cfg, nil
}

// openFleet joins the fleet the config names: Redis, the link, this edge's link key.
func openFleet(ctx context.Context, gc *config.Gateway, identity ed25519.PrivateKey, log *slog.Logger) (*fleet.Fleet, error) {
	fc, err := fleetConfig(gc, identity)
	if err != nil {
		return nil, err
	}
	fc.Logger = log
	f, err := fleet.Open(ctx, fc)
	if err != nil {
		return nil, err
	}
	log.Info("fleet edge", "edge", fc.Edge, "link", f.LinkAddr().String(), "link_key", bridge.EncodeKey(f.LinkKey()),
		"redis", fc.Redis.Addr)
	revokeLinkKeys(ctx, f, gc, log)
	return f, nil
}

// fleetConfig is what fleet.Open takes for the config's fleet block, its files read.
// identity is the gateway's.
func fleetConfig(gc *config.Gateway, identity ed25519.PrivateKey) (fleet.Config, error) {
	secrets, err := config.ReadFleetSecrets(gc)
	if err != nil {
		return fleet.Config{}, err
	}
	f, r := gc.Fleet, gc.Fleet.Redis
	return fleet.Config{
		Edge: f.Edge, Identity: identity, LinkKey: secrets.LinkKey, Link: f.Link, LinkPublic: f.LinkPublic,
		Wait: f.Wait, Lease: f.Lease,
		Redis: fleet.RedisConfig{Addr: r.Addr, Username: r.Username, Password: secrets.RedisPassword,
			DB: r.DB, TLS: secrets.RedisTLS, Prefix: r.Prefix},
	}, nil
}

// revokeLinkKeys revokes, for the whole fleet, the link keys the config lists.
// Revoking is idempotent, so the list is applied whole at every start and reload.
func revokeLinkKeys(ctx context.Context, f *fleet.Fleet, gc *config.Gateway, log *slog.Logger) {
	if f == nil || gc.Fleet == nil || len(gc.Fleet.RevokedLinkKeys) == 0 {
		return
	}
	if err := f.RevokeKeys(ctx, gc.Fleet.LinkKeys()...); err != nil {
		log.Warn("link keys revoked on this edge only, for now", "keys", len(gc.Fleet.RevokedLinkKeys), "err", err)
	}
}

func writeBridges(stateDir string, bridges []bridge.Line) error {
	var sb strings.Builder
	for _, b := range bridges {
		sb.WriteString(b.String())
		sb.WriteByte('\n')
	}
	path := filepath.Join(stateDir, bridgesFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o600); err != nil {
		return fmt.Errorf("write bridge lines: %w", err)
	}
	return os.Rename(tmp, path)
}

// serveAdmin serves the admin handler on addr, which the config has checked is a
// loopback address: metrics reveal traffic volumes and must not be reachable from the
// censored network.
func serveAdmin(addr string, h http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

// memoryBudget is the configured budget, or, for 0, the machine's default: read again
// on every reload, so a container whose limit changed gets a budget to match.
func memoryBudget(l config.Limits) int64 {
	if l.MemoryBudget > 0 {
		return l.MemoryBudget
	}
	return gateway.DefaultMemoryBudget()
}
