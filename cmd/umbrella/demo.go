package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/all"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", `
Runs, in this one process and on loopback only: a stand-in messaging backend (a relay of
length-prefixed messages, standing for the MLS delivery service), a gateway with every
transport, and two clients, alice and bob, that chat through different transports. It
prints what flows where, shows what a prober without the bridge secret sees, and ends
with a summary. No files are needed; keys live in a temporary directory.`, stderr)
	messages := fs.Int("messages", 5, "messages each client sends")
	keep := fs.Bool("keep", false, "keep the gateway and backend running after the chat (until Ctrl-C), and print its bridge lines")
	verbose := fs.Bool("v", false, "show the gateway's and clients' logs")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logw := io.Discard
	if *verbose {
		logw = stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := &demo{out: stdout, log: log}
	return d.run(ctx, *messages, *keep)
}

type demo struct {
	out     io.Writer
	log     *slog.Logger
	relayed atomic.Int64
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
}

func (d *demo) run(ctx context.Context, messages int, keep bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	stateDir, err := os.MkdirTemp("", "umbrella-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)

	// The backend: a relay standing for the MLS delivery service.
	relayLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	relay := &backend.Relay{OnMessage: func(size, fanout int) { d.relayed.Add(1) }}
	go relay.Serve(ctx, relayLn)
	d.say("backend   mls relay on %s (stands for the MLS delivery service)", relayLn.Addr())

	// The gateway, with fresh keys and every transport on loopback.
	_, identity, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	var secret session.Secret
	rand.Read(secret[:])
	reg := all.Registry()
	gcfg := gateway.Config{
		Identity: identity,
		Secrets:  []session.Secret{secret},
		Services: map[string]string{"mls": relayLn.Addr().String()},
		StateDir: stateDir,
		// The demo's own clients have hung up by the end; nothing is worth waiting for.
		DrainTimeout: time.Second,
		Logger:       d.log.With("side", "gateway"),
	}
	for _, name := range reg.Names() {
		args, err := lab.ListenerArgs(name)
		if errors.Is(err, lab.ErrUnavailable) {
			d.say("gateway   %-9s left out: %v", name, err)
			continue
		}
		if err != nil {
			return err
		}
		t, _ := reg.Get(name)
		gcfg.Listeners = append(gcfg.Listeners, gateway.ListenerConfig{
			Transport: t, Listen: "127.0.0.1:0", Args: args,
		})
	}
	g, err := gateway.Listen(ctx, gcfg)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx) }()
	bridges := g.Bridges()
	for _, b := range bridges {
		d.say("gateway   %-9s listener on %s", b.Transport, b.Addr)
	}

	// Two users, each on another transport.
	alice, bob := bridges[0], bridges[len(bridges)-1]
	ac, err := d.connect(ctx, "alice", alice, reg)
	if err != nil {
		return err
	}
	defer ac.Close()
	bc, err := d.connect(ctx, "bob", bob, reg)
	if err != nil {
		return err
	}
	defer bc.Close()

	if err := d.chat(ctx, messages, ac, bc); err != nil {
		return err
	}
	d.probes(bridges)

	d.say("\nsummary   %d messages relayed through the gateway in %v; alice used %s, bob used %s;",
		d.relayed.Load(), time.Since(start).Round(time.Millisecond), alice.Transport, bob.Transport)
	d.say("          no message lost; probers without the bridge secret saw a website or silence.")
	if keep {
		d.say("\nThe gateway keeps running until Ctrl-C. Its bridge lines (for 'umbrella client'):")
		for _, b := range bridges {
			d.say("  %s", b.String())
		}
		<-ctx.Done()
	}
	ac.Close()
	bc.Close()
	cancel()
	return <-served
}

type chatter struct {
	name   string
	conn   net.Conn
	reader *bufio.Reader
	client *client.Client
}

func (c *chatter) Close() {
	c.conn.Close()
	c.client.Close()
}

func (d *demo) connect(ctx context.Context, name string, b config.Bridge, reg *transports.Registry) (*chatter, error) {
	t0 := time.Now()
	c, err := client.New(client.Config{
		Bridges: []config.Bridge{b}, Transports: reg, Logger: d.log.With("side", name),
	})
	if err != nil {
		return nil, err
	}
	conn, err := c.Dial(ctx, "mls")
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d.say("client    %-5s connected through %s in %v (post-quantum session, gateway key pinned)",
		name, c.Active(), time.Since(t0).Round(time.Millisecond))
	return &chatter{name: name, conn: conn, reader: bufio.NewReader(conn), client: c}, nil
}

// chat has each side send, and the other read, in turns, so the output tells a story.
func (d *demo) chat(ctx context.Context, messages int, a, b *chatter) error {
	d.say("")
	for i := 1; i <= messages; i++ {
		for _, pair := range [][2]*chatter{{a, b}, {b, a}} {
			from, to := pair[0], pair[1]
			text := fmt.Sprintf("message %d from %s", i, from.name)
			if err := backend.WriteMessage(from.conn, []byte(text)); err != nil {
				return fmt.Errorf("%s send: %w", from.name, err)
			}
			to.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := backend.ReadMessage(to.reader)
			if err != nil {
				return fmt.Errorf("%s receive: %w", to.name, err)
			}
			if string(got) != text {
				return fmt.Errorf("%s received %q, want %q", to.name, got, text)
			}
			d.say("chat      %-5s ─[%s]→ gateway → mls relay → gateway ─[%s]→ %-5s %q",
				from.name, from.client.Active(), to.client.Active(), to.name, got)
		}
	}
	return nil
}

// probes shows what a censor's prober sees: no secret, so a website or silence.
func (d *demo) probes(bridges []config.Bridge) {
	d.say("")
	for _, b := range bridges {
		switch b.Transport {
		case "utls":
			d.say("probe     https://%s/ → %s", b.Addr, httpsProbe(b.Addr))
		case "tcp":
			d.say("probe     random bytes to %s → %s", b.Addr, rawProbe(b.Addr))
		}
	}
}

func httpsProbe(addr string) string {
	hc := &http.Client{
		Timeout: 15 * time.Second,
		// One request, then hang up, as a prober would; a kept-alive connection would
		// hold the decoy (and the demo's shutdown) for its idle timeout.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
	}
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	title := "(no title)"
	if i := strings.Index(string(body), "<title>"); i >= 0 {
		if j := strings.Index(string(body[i:]), "</title>"); j > 0 {
			title = html.UnescapeString(string(body[i+7 : i+j]))
		}
	}
	return fmt.Sprintf("%s, a website titled %q (the decoy)", resp.Status, title)
}

func rawProbe(addr string) string {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "error: " + err.Error()
	}
	defer conn.Close()
	junk := make([]byte, 300)
	rand.Read(junk)
	conn.Write(junk)
	// The gateway never answers; read briefly to show that nothing comes back.
	conn.SetReadDeadline(time.Now().Add(time.Second))
	n, _ := conn.Read(make([]byte, 1))
	if n > 0 {
		return "an answer (this would be a bug)"
	}
	return "no answer (the gateway discards, then closes at a random time)"
}
