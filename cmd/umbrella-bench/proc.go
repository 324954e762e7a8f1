package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a program the bench runs for one measurement (an anchor's server or client,
// an umbrella client), stopped with SIGTERM and killed if it lingers.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser // kept open: a PT program exits when it closes
	lines  chan string    // stdout's lines, when asked for
	exited chan struct{}
	log    *limitedWriter // stderr, for errors
}

// startProc runs bin with args and env added to a minimal environment. With lines, its
// stdout comes a line at a time on p.lines; its stderr is kept for errors.
func startProc(bin string, args, env []string, lines bool) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	// If the bench dies without stopping it, the kernel kills the program too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, exited: make(chan struct{}), log: &limitedWriter{max: 4 << 10}}
	cmd.Stderr = p.log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	p.stdin = stdin
	var stdout io.ReadCloser
	if lines {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
		p.lines = make(chan string, 16)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	readDone := make(chan struct{})
	if lines {
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				select {
				case p.lines <- sc.Text():
				default: // nobody listens any more
				}
			}
		}()
	} else {
		close(readDone)
	}
	go func() { <-readDone; cmd.Wait(); close(p.exited) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// waitLine returns the first stdout line for which match returns true, within limit.
func (p *proc) waitLine(ctx context.Context, limit time.Duration, match func(string) bool) (string, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case l := <-p.lines:
			if match(l) {
				return l, nil
			}
		case <-p.exited:
			return "", fmt.Errorf("%s exited: %s", p.cmd.Path, strings.TrimSpace(p.log.String()))
		case <-t.C:
			return "", fmt.Errorf("%s said nothing expected within %s", p.cmd.Path, limit)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// stop ends the program: stdin closes, SIGTERM, and SIGKILL after a few seconds.
func (p *proc) stop() {
	p.stdin.Close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// limitedWriter keeps the first max bytes written to it.
type limitedWriter struct {
	mu  sync.Mutex
	b   strings.Builder
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - w.b.Len(); room > 0 {
		w.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (w *limitedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
