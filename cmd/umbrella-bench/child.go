package main

import (
	"context"
	"errors"
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

// childGateway is `umbrella gateway` running as a child process with one tcp listener,
// so its CPU time and memory can be read apart from the bench's own.
type childGateway struct {
	cmd    *exec.Cmd
	dir    string
	admin  string        // admin listener, 127.0.0.1:PORT
	bridge bridge.Line   // the tcp listener's bridge line
	exited chan struct{} // closed when the process has been waited for
}

// buildGateway compiles ./cmd/umbrella into dir, unless bin names a prebuilt binary.
// It builds what make static installs (no libc, -trimpath): the client's resident
// memory counts the pages of the binary and the libraries it maps.
func buildGateway(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root (go env GOMOD): %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin = filepath.Join(dir, "umbrella")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/umbrella")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/umbrella: %w\n%s", err, out)
	}
	return bin, nil
}

// startChild writes a gateway config into a fresh state directory under dir, starts the
// gateway and waits until its bridge line and admin listener are up. The caller must
// call stop, which also runs on every error path here.
func startChild(ctx context.Context, bin, dir string, services map[string]string, limits config.Limits) (_ *childGateway, err error) {
	admin, err := freeport.TCP("127.0.0.1")
	if err != nil {
		return nil, err
	}
	stateDir, err := os.MkdirTemp(dir, "gateway-")
	if err != nil {
		return nil, err
	}
	cfg := config.Gateway{
		StateDir:  stateDir,
		Listeners: []config.Listener{{Transport: "tcp", Listen: "127.0.0.1:0"}},
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
	if g.bridge, err = g.waitReady(ctx, 30*time.Second); err != nil {
		return nil, err
	}
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

// waitReady polls for the bridge line the gateway writes once its listeners are bound,
// and for its admin listener.
func (g *childGateway) waitReady(ctx context.Context, limit time.Duration) (bridge.Line, error) {
	deadline := time.Now().Add(limit)
	for {
		b, err := g.readBridge()
		if err == nil {
			if _, err = g.scrape(ctx); err == nil {
				return b, nil
			}
		}
		select {
		case <-g.exited:
			return bridge.Line{}, fmt.Errorf("gateway exited while starting: %s", g.cmd.ProcessState)
		case <-ctx.Done():
			return bridge.Line{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return bridge.Line{}, fmt.Errorf("gateway not ready after %s: %w", limit, err)
		}
	}
}

func (g *childGateway) readBridge() (bridge.Line, error) {
	data, err := os.ReadFile(filepath.Join(g.dir, "bridges.txt"))
	if err != nil {
		return bridge.Line{}, err
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if line == "" {
		return bridge.Line{}, errors.New("bridges.txt is empty")
	}
	return bridge.Parse(line)
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
