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
	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/internal/statefile"
	"github.com/umbrella-edge/edge/transports/all"
)

func runBridges(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bridges", `
Prints the bridge lines of a gateway configuration: one per listener, with the
gateway's identity key and bridge secret. Hand them to users out of band; anyone with a
line can use (and find) the bridge. The gateway writes them on start, so run it once first.`, stderr)
	cfgPath := fs.String("config", "", "gateway YAML config `file` (required)")
	qr := fs.Bool("qr", false, "also print each line as a QR code for a phone to scan")
	share := fs.Bool("share", false, "print one share code (UMBRELLA:1:…) holding every line, and its QR code")
	png := fs.String("png", "", "with --share, also write the QR code as a PNG `file` (mode 0600)")
	if err := cli.ParseFlags(fs, args); err != nil {
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
	if *share || *png != "" {
		return printShare(lines, *png, stdout, stderr)
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

// printShare prints the share code of lines and its QR code, and writes the QR code to
// pngPath if it is set. The warning goes to stderr, so that stdout is the code alone.
func printShare(lines []bridge.Line, pngPath string, stdout, stderr io.Writer) error {
	code, err := bridge.EncodeShare(lines)
	if err != nil {
		return fmt.Errorf("bridges: %w", err)
	}
	fmt.Fprintf(stderr, "This code holds %d bridge lines and their secret: whoever has it can use these bridges, and find them.\nHand it only to people you would give the lines to. Clients take it as it is: umbrella client --bridges CODE\n", len(lines))
	fmt.Fprintln(stdout, code)
	if err := config.WriteQR(stdout, code); err != nil {
		return err
	}
	if pngPath == "" {
		return nil
	}
	img, err := config.QRPNG(code)
	if err != nil {
		return err
	}
	if err := statefile.Replace(pngPath, img); err != nil {
		return fmt.Errorf("bridges: %w", err)
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
