package docker

import (
	"bytes"
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/ready"
)

// process is a program a test runs in the background, its output kept for failure
// messages; it is killed when the test ends.
type process struct {
	out    *lockedBuffer
	exited chan struct{}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProcess runs cmd in the background until the test ends.
func startProcess(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{out: new(lockedBuffer), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("output of %v:\n%s", cmd.Args, p.out)
		}
	})
	return p
}

// awaitTCP waits until the process accepts on addr, failing the test if it exits
// first; the minute only keeps a broken start from hanging the test.
func (p *process) awaitTCP(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := ready.TCP(ctx, addr, p.exited); err != nil {
		t.Fatalf("waiting for %s: %v\n%s", addr, err, p.out)
	}
}
