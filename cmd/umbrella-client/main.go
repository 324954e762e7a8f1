// Command umbrella-client is `umbrella client` alone: the client and its local proxies,
// without the gateway, the operator's tools and their libraries. It is what a device
// with a small memory budget runs (a phone's network extension links the same packages).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/internal/clientcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := clientcmd.Run(ctx, "umbrella-client", os.Args[1:], os.Stdout, os.Stderr)
	stop()
	cli.Exit("umbrella-client", err)
}
