package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/internal/cli"
)

func runEcho(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("echo", `
Runs a stand-in backend service that writes back every byte a stream sends: point a
gateway's service at it to try a deployment end to end before the real backend is
behind it (docker/compose.yaml's example backend is this).`, stderr)
	listen := fs.String("listen", "", "`host:port` to listen on (required)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *listen == "" {
		fs.Usage()
		return errors.New("echo: --listen is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	fmt.Fprintf(stderr, "echo: listening on %s\n", ln.Addr())
	return backend.Echo{}.Serve(ctx, ln)
}
