// Command umbrella is Umbrella Edge's one binary: the gateway an operator runs, the
// client a user runs, and the tools around them (keys, bridge lines, the demo).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/internal/clientcmd"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"gateway", "run an edge gateway from a YAML config", runGateway},
		{"client", "run the client and its local proxies (SOCKS5, HTTP CONNECT, forwards)", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return clientcmd.Run(ctx, "umbrella client", args, stdout, stderr)
		}},
		{"tor-pt", "run as a Tor pluggable transport, so Tor's bridges use umbrella's transports", runTorPT},
		{"keygen", "generate a gateway identity key and a bridge secret", runKeygen},
		{"bridges", "print the bridge lines of a gateway configuration (optionally as QR codes)", runBridges},
		{"health", "ask a running gateway's /healthz (the container image's health check)", runHealth},
		{"echo", "run a stand-in backend that echoes streams back, to try a gateway out", runEcho},
		{"probe", "test bridge lines from this network, step by step; a table and OONI-shaped JSON", runProbe},
		{"demo", "run a gateway, a backend and two chatting clients on loopback", runDemo},
		{"censor", "run a censor simulator between clients and gateways (lab and tests)", runCensor},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	cli.Exit("umbrella", err)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `Umbrella Edge carries a messenger's stream through censored networks.

Usage: umbrella COMMAND [flags]

Commands:`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, `
Run 'umbrella COMMAND --help' for a command's flags.

A first run, on one machine:
  umbrella demo                                  # everything on loopback, ends by itself
  umbrella gateway --config gateway.yaml         # operator: keys are made on first start
  umbrella bridges --config gateway.yaml --qr    # the lines to hand to users
  umbrella client --config client.yaml           # user: then point apps at the SOCKS5 port
  umbrella probe --config client.yaml            # tester: which lines work here, and why not`)
}

// newFlagSet returns a flag set for `umbrella name` whose --help prints what the
// command is for.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	return cli.NewFlagSet("umbrella "+name, synopsis, stderr)
}
