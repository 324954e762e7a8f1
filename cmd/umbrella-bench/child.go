package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/internal/freeport"
)

// childGateway is `umbrella gateway` running as a child process (one tcp listener
// unless asked for others), so its CPU time and memory can be read apart from the
// bench's own.
type childGateway struct {
	cmd     *exec.Cmd
	dir     string
	admin   string        // admin listener, 127.0.0.1:PORT
	bridge  bridge.Line   // the first listener's bridge line
	bridges []bridge.Line // every listener's, in the config's order
	exited  chan struct{} // closed when the process has been waited for
}

// buildGateway compiles ./cmd/umbrella into dir, unless bin names a prebuilt binary.
// It builds what make static installs (no libc, -trimpath): the client's resident
// memory counts the pages of the binary and the libraries it maps.
func buildGateway(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	return buildCommand(ctx, "umbrella", dir)
}

// buildCommand builds ./cmd/name into dir, as a release would (static, trimmed paths).
func buildCommand(ctx context.Context, name, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root (go env GOMOD): %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, out)
	}
	return bin, nil
}

// startChild writes a gateway config into a fresh state directory under dir, starts the
// gateway and waits until its bridge lines and admin listener are up. No listeners
// means one tcp listener on 127.0.0.1. The caller must call stop, which also runs on
// every error path here.
func startChild(ctx context.Context, bin, dir string, services map[string]string, limits config.Limits, listeners []config.Listener) (_ *childGateway, err error) {
	admin, err := freeport.TCP("127.0.0.1")
	if err != nil {
		return nil, err
	}
	if len(listeners) == 0 {
		listeners = []config.Listener{{Transport: "tcp", Listen: "127.0.0.1:0"}}
	}
	stateDir, err := os.MkdirTemp(dir, "gateway-")
	if err != nil {
		return nil, err
	}
	cfg := config.Gateway{
		StateDir:  stateDir,
		Listeners: listeners,
		Services:  services,
		Admin:     admin,
		Limits:    limits,
		Log:       config.Log{Level: "warn"},
	}
	cfgPath := filepath.Join(stateDir, "gateway.yaml")
	if err := writeYAML(cfgPath, cfg); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(stateDir, "gateway.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(bin, "gateway", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the bench dies without stopping it, the kernel kills the gateway too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s gateway: %w", bin, err)
	}
	g := &childGateway{cmd: cmd, dir: stateDir, admin: admin, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(g.exited) }()
	defer func() {
		if err != nil {
			g.stop()
			err = fmt.Errorf("%w\ngateway log:\n%s", err, g.logTail())
		}
	}()
	if g.bridges, err = g.waitReady(ctx, len(listeners), 30*time.Second); err != nil {
		return nil, err
	}
	g.bridge = g.bridges[0]
	return g, nil
}

// writeYAML writes cfg with the schema's own field tags, so the file cannot drift from
// what the gateway parses.
func writeYAML(path string, cfg config.Gateway) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode gateway config: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write gateway config: %w", err)
	}
	return nil
}

// waitReady polls for the n bridge lines the gateway writes once its listeners are
// bound, and for its admin listener.
func (g *childGateway) waitReady(ctx context.Context, n int, limit time.Duration) ([]bridge.Line, error) {
	deadline := time.Now().Add(limit)
	for {
		b, err := g.readBridges(n)
		if err == nil {
			if _, err = g.scrape(ctx); err == nil {
				return b, nil
			}
		}
		select {
		case <-g.exited:
			return nil, fmt.Errorf("gateway exited while starting: %s", g.cmd.ProcessState)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gateway not ready after %s: %w", limit, err)
		}
	}
}

func (g *childGateway) readBridges(n int) ([]bridge.Line, error) {
	data, err := os.ReadFile(filepath.Join(g.dir, "bridges.txt"))
	if err != nil {
		return nil, err
	}
	var lines []bridge.Line
	for _, s := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if s = strings.TrimSpace(s); s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		b, err := bridge.Parse(s)
		if err != nil {
			return nil, err
		}
		lines = append(lines, b)
	}
	if len(lines) < n {
		return nil, fmt.Errorf("bridges.txt has %d of %d lines", len(lines), n)
	}
	return lines, nil
}

// stop asks the gateway to drain (SIGTERM), kills it if it has not exited soon after,
// and removes its state directory. It is safe to call more than once.
func (g *childGateway) stop() {
	select {
	case <-g.exited:
	default:
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(5 * time.Second):
			g.cmd.Process.Kill()
			<-g.exited
		}
	}
	os.RemoveAll(g.dir)
}

func (g *childGateway) logTail() string {
	data, _ := os.ReadFile(filepath.Join(g.dir, "gateway.log"))
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}
