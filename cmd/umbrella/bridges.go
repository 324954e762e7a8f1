package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/transports/all"
)

func runBridges(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bridges", `
Prints the bridge lines of a gateway configuration: one per listener, with the
gateway's identity key and bridge secret. Hand them to users out of band; anyone with a
line can use (and find) the bridge. The gateway writes them on start, so run it once first.`, stderr)
	cfgPath := fs.String("config", "", "gateway YAML config `file` (required)")
	qr := fs.Bool("qr", false, "also print each line as a QR code for a phone to scan")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fs.Usage()
		return errors.New("bridges: --config is required")
	}
	lines, _, err := gatewayBridges(*cfgPath)
	if err != nil {
		return fmt.Errorf("bridges: %w", err)
	}
	for _, b := range lines {
		fmt.Fprintln(stdout, b.String())
		if *qr {
			if err := config.WriteQR(stdout, b.String()); err != nil {
				return err
			}
			fmt.Fprintln(stdout)
		}
	}
	return nil
}

// gatewayBridges returns the bridge lines the gateway of the config at cfgPath wrote on
// its last start, one per listener, and the config.
func gatewayBridges(cfgPath string) ([]bridge.Line, *config.Gateway, error) {
	gc, err := config.LoadGateway(cfgPath, all.Names())
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(filepath.Join(gc.StateDir, bridgesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s has no bridge lines yet: start the gateway once (umbrella gateway --config %s)", gc.StateDir, cfgPath)
	}
	if err != nil {
		return nil, nil, err
	}
	var lines []bridge.Line
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		b, err := bridge.Parse(line)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", bridgesFile, err)
		}
		lines = append(lines, b)
	}
	return lines, gc, nil
}
