package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/transports/all"
)

// clientMemoryEnv, when set in the environment, makes the bench binary the client-memory
// child instead of the bench: the child's heap then holds the client alone, not the
// in-process gateway and backends that serve it.
const clientMemoryEnv = "UMBRELLA_BENCH_CLIENT_MEMORY_CHILD"

// heapSample is the child's Go memory after a forced GC.
type heapSample struct {
	HeapAlloc  uint64 `json:"heap_alloc"` // live heap objects
	StackInuse uint64 `json:"stack_inuse"`
	Goroutines int    `json:"goroutines"`
}

// clientMemory is what the child reports: its memory before the client exists, after
// client.New with every bridge line, and with one active session and one stream.
type clientMemory struct {
	Bridges   int        `json:"bridges"`
	Base      heapSample `json:"base"`
	New       heapSample `json:"new"`
	Session   heapSample `json:"session"`
	Transport string     `json:"transport"` // the active session's carrier
}

// measureClientMemory reports what the client costs with a bridge line for every
// transport the in-process gateway serves: the library's Go heap in an app, and the
// resident memory of the `umbrella client` process before and after a bulk transfer.
func measureClientMemory(ctx context.Context, b *bench) ([]row, error) {
	rows, err := measureClientHeap(ctx, b)
	if err != nil {
		return rows, err
	}
	rss, err := measureClientRSS(ctx, b)
	return append(rows, rss...), err
}

// measureClientHeap runs a child process holding one client.Client configured with
// every bridge line, and reports its heap.
func measureClientHeap(ctx context.Context, b *bench) ([]row, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the bench binary to run as the client child: %w", err)
	}
	var lines strings.Builder
	for _, br := range b.bridges {
		lines.WriteString(br.String() + "\n") // holds the secret: stdin only, never argv or logs
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), clientMemoryEnv+"=1")
	cmd.Stdin = strings.NewReader(lines.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	b.progress.say("  client child: %d bridge lines (%s)", len(b.bridges), transportNames(b.bridges))
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("client memory child: %w\n%s", err, stderr.String())
	}
	var m clientMemory
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		return nil, fmt.Errorf("client memory child's report %q: %w", stdout.String(), err)
	}
	b.progress.say("  client heap: base %s, after New %s, with a session on %s %s",
		kib(float64(m.Base.HeapAlloc)), kib(float64(m.New.HeapAlloc)), m.Transport, kib(float64(m.Session.HeapAlloc)))
	return clientMemoryRows(m), nil
}

func clientMemoryRows(m clientMemory) []row {
	base := fmt.Sprintf("baseline: the same process before the client, heap %s, stacks %s, %d goroutines",
		kib(float64(m.Base.HeapAlloc)), kib(float64(m.Base.StackInuse)), m.Base.Goroutines)
	delta := func(s heapSample, what string) row {
		return row{
			measure: "Client memory, " + what,
			path:    fmt.Sprintf("%d bridge lines, one per transport", m.Bridges),
			result:  kib(float64(s.HeapAlloc) - float64(m.Base.HeapAlloc)),
			how: fmt.Sprintf("Go heap after a GC (runtime.MemStats.HeapAlloc) over the %s; stacks +%s, +%d goroutines",
				base, kib(float64(s.StackInuse)-float64(m.Base.StackInuse)), s.Goroutines-m.Base.Goroutines),
		}
	}
	return []row{
		delta(m.New, "after client.New (all transports configured)"),
		delta(m.Session, fmt.Sprintf("with one active session (on %s) and one idle stream", m.Transport)),
	}
}

func transportNames(bs []bridge.Line) string {
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Transport
	}
	return strings.Join(names, ", ")
}

// runClientMemoryChild is the child's whole life: read bridge lines from stdin, sample
// the heap, build the client, sample, open a session and a stream, sample, and print the
// samples as JSON on stdout.
func runClientMemoryChild(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	var lines []string
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read bridge lines: %w", err)
	}
	m := clientMemory{Bridges: len(lines), Base: sampleHeap()}
	bridges := make([]bridge.Line, 0, len(lines))
	for i, l := range lines {
		b, err := bridge.Parse(l)
		if err != nil {
			return fmt.Errorf("bridge line %d: %w", i+1, err)
		}
		bridges = append(bridges, b)
	}
	reg := all.Registry()
	defer reg.Close()
	c, err := client.New(client.Config{Bridges: bridges, Transports: reg})
	if err != nil {
		return err
	}
	defer c.Close()
	m.New = sampleHeap()

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := c.Dial(ctx, serviceEcho)
	if err != nil {
		return fmt.Errorf("open a stream to %s: %w", serviceEcho, err)
	}
	defer conn.Close()
	if err := echoByte(ctx, conn); err != nil {
		return fmt.Errorf("echo through the session: %w", err)
	}
	m.Transport = c.Active()
	m.Session = sampleHeap()
	return json.NewEncoder(stdout).Encode(m)
}

// sampleHeap collects twice (the first cycle's finalizers free more in the second) and
// reads what is left.
func sampleHeap() heapSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return heapSample{HeapAlloc: ms.HeapAlloc, StackInuse: ms.StackInuse, Goroutines: runtime.NumGoroutine()}
}
