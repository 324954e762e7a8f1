package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/internal/cli"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", `
Runs, in this one process and on loopback only: a stand-in messaging backend (a relay of
length-prefixed messages, standing for the MLS delivery service), a gateway with every
transport, a censor between the clients and the gateway, and two clients, alice and bob,
that chat through it. While they chat, the censor blocks the transport alice is on, three
times with three published techniques; the clients move to other transports, resume
their sessions and lose nothing. It ends by itself with a summary. No files are needed;
keys live in a temporary directory, and no web server is needed: the gateway is its own
web front.`, stderr)
	messages := fs.Int("messages", 5, "messages each client sends between two of the censor's moves")
	keep := fs.Bool("keep", false, "keep the gateway and the censor running after the chat (until Ctrl-C), and print the bridge lines")
	verbose := fs.Bool("v", false, "show the gateway's, censor's and clients' logs")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *messages < 1 {
		return errors.New("demo: --messages must be at least 1")
	}
	logw := io.Discard
	if *verbose {
		logw = stderr
	}
	d := &demo{out: stdout, log: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	return d.run(ctx, *messages, *keep)
}

// chatInterval is how often each client sends a message: slow enough to read, fast
// enough that messages are in flight whenever the censor strikes.
const chatInterval = 250 * time.Millisecond

// moveGuard bounds the wait for a client to resume: a silent cut is noticed by the
// client's watchdog within seconds. It only keeps a broken demo from hanging.
const moveGuard = time.Minute

type demo struct {
	out     io.Writer
	log     *slog.Logger
	mu      sync.Mutex // one line at a time on out
	blocked atomic.Int64
	relayed atomic.Int64
}

func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format+"\n", args...)
}

func (d *demo) run(ctx context.Context, messages int, keep bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	w, err := d.startWorld(ctx)
	if err != nil {
		return err
	}
	defer w.close()

	// Both know every bridge line, in their own order of preference, so that they
	// start on different transports.
	alice, err := d.connect(ctx, w, "alice", []string{"obfs4", "tcp", "pt", "utls", "webtunnel", "websocket", "meek"})
	if err != nil {
		return err
	}
	defer alice.close()
	bob, err := d.connect(ctx, w, "bob", []string{"utls", "websocket", "meek", "webtunnel", "tcp", "obfs4", "pt"})
	if err != nil {
		return err
	}
	defer bob.close()

	d.say("")
	chat := d.startChat(ctx, alice, bob)
	defer chat.close()
	if err := chat.waitEach(ctx, int64(messages)); err != nil {
		return err
	}
	moves, err := d.escalate(ctx, w, chat, messages)
	if err != nil {
		return err
	}
	if err := chat.finish(ctx); err != nil {
		return err
	}
	d.probes(w.direct)

	d.say("\nsummary   alice sent %d messages and bob received %d; bob sent %d and alice received %d:",
		alice.sent.Load(), bob.received.Load(), bob.sent.Load(), alice.received.Load())
	d.say("          lost 0, none duplicated or out of order; the relay passed on %d, in %v.",
		d.relayed.Load(), time.Since(start).Round(100*time.Millisecond))
	d.say("          The censor escalated %d times (%s) and blocked %d connections;",
		len(moves), strings.Join(moves, ", "), d.blocked.Load())
	d.say("          alice used %s; bob used %s. Neither chat connection ever closed.",
		alice.path(), bob.path())
	d.say("          Probers without the bridge secret saw a website or silence.")
	if keep {
		w.censor.SetPolicies()
		d.say("\nThe gateway and the censor keep running until Ctrl-C; the censor lets everything through")
		d.say("again. The bridge lines (for 'umbrella client'), each through the censor:")
		for _, b := range w.bridges {
			d.say("  %s", b.String())
		}
		<-ctx.Done()
	}
	return nil
}
