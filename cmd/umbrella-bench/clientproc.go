package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/internal/freeport"
)

// startUmbrellaClient runs `umbrella client` with one bridge line and one port forward
// to service, as a user would: the app connects to the forward. gatewayPID is the
// other side, whose CPU time counts with the client's.
func startUmbrellaClient(ctx context.Context, bin, dir string, line bridge.Line, service string, gatewayPID int) (*echoRun, error) {
	local, err := freeport.TCP("127.0.0.1")
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"bridges":  []string{line.String()},
		"forwards": map[string]string{local: service},
		"log":      map[string]string{"level": "warn"},
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	// The bridge line holds the secret: a file only its owner reads, never argv.
	path := filepath.Join(dir, "client-"+line.Transport+".yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("write client config: %w", err)
	}
	p, err := startProc(bin, []string{"client", "--config", path}, nil, false)
	if err != nil {
		return nil, err
	}
	if err := waitTCP(ctx, local, p); err != nil {
		p.stop()
		return nil, err
	}
	return &echoRun{dial: dialTCP(local), pids: []int{p.pid(), gatewayPID}, stop: p.stop}, nil
}
