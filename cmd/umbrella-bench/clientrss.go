package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/internal/freeport"
)

const (
	// clientRSSTarget is the memory budget of a mobile network extension (an iOS
	// packet tunnel provider is killed past about 15 MB), issue 17's target.
	clientRSSTarget = 15_000_000
	// clientBulk is what is echoed through the client between its two samples.
	clientBulk = 200 << 20
)

// clientProcess is `umbrella client` running as a child, with every bridge line the
// in-process gateway serves and a port forward to the echo service.
type clientProcess struct {
	*proc
	forward string // the forward's address

	mu     sync.Mutex
	active string // the last transport it announced as active
}

// clientCommand is one way to run the client: the full binary's `umbrella client`, or
// the client-only `umbrella-client` (what a small-memory device runs).
type clientCommand struct {
	name string   // as the rows name it
	bin  string   // the binary
	args []string // before --config
}

// measureClientRSS measures both client commands under the same load, one at a time.
func measureClientRSS(ctx context.Context, b *bench) ([]row, error) {
	if err := b.buildChild(ctx); err != nil {
		return nil, err
	}
	b.progress.say("  building ./cmd/umbrella-client")
	slim, err := buildCommand(ctx, "umbrella-client", b.childDir)
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, cmd := range []clientCommand{
		{name: "umbrella client", bin: b.childBin, args: []string{"client"}},
		{name: "umbrella-client", bin: slim},
	} {
		r, err := measureClientCommandRSS(ctx, b, cmd)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", cmd.name, err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// measureClientCommandRSS runs the client command with every bridge line, opens one
// connection through its port forward (so it has one session and one stream), and
// reads its VmRSS then and after clientBulk bytes were echoed through it.
func measureClientCommandRSS(ctx context.Context, b *bench, cmd clientCommand) ([]row, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	c, err := startClientProcess(ctx, cmd, b.childDir, b.bridges)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.forward)
	if err != nil {
		return nil, fmt.Errorf("connect to the client's forward: %w", err)
	}
	defer conn.Close()
	if err := echoByte(ctx, conn); err != nil {
		return nil, fmt.Errorf("echo through the client: %w", err)
	}
	transport := c.lastActive()
	before, err := procMemory(c.pid())
	if err != nil {
		return nil, err
	}
	b.progress.say("  %s on %s: VmRSS %s with one session; echoing %d MiB", cmd.name, transport, before, clientBulk>>20)
	took, err := echoChecked(ctx, conn, clientBulk)
	if err != nil {
		return nil, fmt.Errorf("echo %d MiB through the client: %w", clientBulk>>20, err)
	}
	after, err := procMemory(c.pid())
	if err != nil {
		return nil, err
	}
	b.progress.say("  %s: VmRSS %s after the echo (%s), peak %s", cmd.name, after, took.Round(time.Millisecond), mb(after.hwm))
	return clientRSSRows(cmd.name, len(b.bridges), transport, before, after, took), nil
}

func clientRSSRows(command string, bridges int, transport string, before, after procMem, took time.Duration) []row {
	path := fmt.Sprintf("%s, %d bridge lines, active: %s", command, bridges, transport)
	target := fmt.Sprintf("≤ %s", mb(clientRSSTarget))
	return []row{
		{measure: "Client RSS, one active session and one idle stream", path: path,
			result: mb(before.rss), target: target, met: targetMet(before.rss <= clientRSSTarget),
			how: fmt.Sprintf("VmRSS of the `%s` process after one byte echoed through its port forward: %s", command, before)},
		{measure: fmt.Sprintf("Client RSS, after %d MiB echoed", clientBulk>>20), path: path,
			result: mb(after.rss), target: target, met: targetMet(after.rss <= clientRSSTarget),
			how: fmt.Sprintf("VmRSS of the same process once %d MiB went through the forward to the echo service and back, in %s: %s; peak (VmHWM) %s",
				clientBulk>>20, took.Round(time.Millisecond), after, mb(after.hwm))},
	}
}

// startClientProcess writes a client config into a fresh directory under dir and runs
// the client command with it, until its forward accepts connections.
func startClientProcess(ctx context.Context, cmd clientCommand, dir string, lines []bridge.Line) (_ *clientProcess, err error) {
	forward, err := freeport.TCP("127.0.0.1")
	if err != nil {
		return nil, err
	}
	cdir, err := os.MkdirTemp(dir, "client-")
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"bridges":  bridgeStrings(lines),
		"forwards": map[string]string{forward: serviceEcho},
		"log":      map[string]string{"level": "warn"},
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cdir, "client.yaml")
	// The bridge lines hold the secret: a file only its owner reads, never argv.
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("write client config: %w", err)
	}
	p, err := startProc(cmd.bin, append(slices.Clone(cmd.args), "--config", path), nil, true)
	if err != nil {
		return nil, err
	}
	c := &clientProcess{proc: p, forward: forward, active: "unknown"}
	go c.watch()
	if err := waitTCP(ctx, forward, p); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s: %w", cmd.name, err)
	}
	return c, nil
}

func bridgeStrings(lines []bridge.Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.String()
	}
	return out
}

// activeLine is the client's announcement of its carrier (internal/clientcmd's eventLine).
var activeLine = regexp.MustCompile(`^active transport: (\S+)`)

// watch follows the client's stdout for the transports it announces, until it exits.
func (c *clientProcess) watch() {
	for {
		select {
		case l := <-c.lines:
			if m := activeLine.FindStringSubmatch(l); m != nil {
				c.mu.Lock()
				c.active = m[1]
				c.mu.Unlock()
			}
		case <-c.exited:
			return
		}
	}
}

// lastActive is the last transport the client announced, "unknown" if none yet.
func (c *clientProcess) lastActive() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active
}

// echoChecked writes n pseudo-random bytes on conn while reading them back, and checks
// that what came back is what went.
func echoChecked(ctx context.Context, conn net.Conn, n int64) (time.Duration, error) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
		defer conn.SetDeadline(time.Time{})
	}
	start := time.Now()
	sent := sha256.New()
	werr := make(chan error, 1)
	go func() {
		src := rand.NewChaCha8([32]byte{'u', 'm', 'b', 'r', 'e', 'l', 'l', 'a'})
		_, err := io.CopyN(io.MultiWriter(conn, sent), src, n)
		werr <- err
	}()
	got := sha256.New()
	if _, err := io.CopyN(got, conn, n); err != nil {
		return 0, err
	}
	if err := <-werr; err != nil {
		return 0, err
	}
	if string(got.Sum(nil)) != string(sent.Sum(nil)) {
		return 0, errors.New("the echo differs from what was sent")
	}
	return time.Since(start), nil
}

// procMem is a process's resident memory now (VmRSS: its anonymous memory, mostly Go's
// heap and stacks, and the pages of files it maps, mostly its own binary's code) and
// at its peak (VmHWM).
type procMem struct{ rss, anon, file, hwm int64 }

func (m procMem) String() string {
	return fmt.Sprintf("%s (anonymous %s, files %s)", mb(m.rss), mb(m.anon), mb(m.file))
}

func procMemory(pid int) (procMem, error) {
	// One read, so that the fields add up: they are of one moment.
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	fields := make(map[string]string)
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	var m procMem
	for _, f := range []struct {
		name string
		to   *int64
	}{{"VmRSS", &m.rss}, {"RssAnon", &m.anon}, {"RssFile", &m.file}, {"VmHWM", &m.hwm}} {
		var kib int64
		if _, err := fmt.Sscanf(fields[f.name], "%d kB", &kib); err != nil {
			return m, fmt.Errorf("read %s of process %d: %q: %w", f.name, pid, fields[f.name], err)
		}
		*f.to = kib << 10
	}
	return m, nil
}

func mb(bytes int64) string { return fmt.Sprintf("%.1f MB", float64(bytes)/1e6) }
