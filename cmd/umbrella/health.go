package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/transports/all"
)

// healthExitUnhealthy is the exit status of an unhealthy gateway: the one a container
// engine's HEALTHCHECK reads as "unhealthy" (Docker reserves 2, our usage errors').
const healthExitUnhealthy = 1

func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("health", `
Asks a running gateway's admin listener for /healthz and exits 0 when it answers ok,
1 when it does not (not running, draining, or not answering in time). It is the
container image's health check, which has no shell or curl to ask with.`, stderr)
	cfgPath := fs.String("config", "", "gateway YAML config `file` whose admin: address is asked")
	admin := fs.String("admin", "", "admin `host:port` to ask, instead of the config's")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the `answer`")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	addr := *admin
	if addr == "" {
		if *cfgPath == "" {
			fs.Usage()
			return errors.New("health: --config or --admin is required")
		}
		gc, err := config.LoadGateway(*cfgPath, all.Names())
		if err != nil {
			return err
		}
		if addr = gc.Admin; addr == "" {
			return fmt.Errorf("health: %s has no admin: listener to ask", *cfgPath)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := askHealth(ctx, addr); err != nil {
		return cli.ExitError{Code: healthExitUnhealthy, Err: fmt.Errorf("health: %w", err)}
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// askHealth gets http://addr/healthz and wants 200 "ok".
func askHealth(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/healthz: %s: %s", addr, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
