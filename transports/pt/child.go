package pt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// child is a running managed proxy.
type child struct {
	program string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	log     *slog.Logger

	exited  chan struct{} // closed once the process has exited and been waited for
	waitErr error         // why it exited; read after exited is closed

	stopOnce sync.Once
	stopping chan struct{} // closed when the parent asked it to go
}

// lineResult is one parsed line, or the error that the line was.
type lineResult struct {
	m   message
	err error
}

// stopGrace is how long a child may take to exit after stdin closes and SIGTERM,
// before it is killed.
const stopGrace = 5 * time.Second

// startChild runs program with the PT environment env and reads its stdout until it
// writes done ("CMETHODS" or "SMETHODS" followed by DONE), an error line, or exits, or
// ctx ends. It returns the child and the CMETHOD or SMETHOD lines it wrote.
func startChild(ctx context.Context, program string, env []string, done string, log *slog.Logger) (*child, []message, error) {
	cmd := exec.Command(program)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stderr = &lineLogger{log: log}
	// A child that leaves its stderr to a grandchild must not hold up Wait forever.
	cmd.WaitDelay = stopGrace
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	// A pipe of our own rather than StdoutPipe: its end is ours to close, so a
	// grandchild that keeps the write end open cannot keep us reading forever.
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		stdout.Close()
		return nil, nil, fmt.Errorf("start %s: %w", program, err)
	}
	c := &child{
		program:  filepath.Base(program),
		cmd:      cmd,
		stdin:    stdin,
		log:      log,
		exited:   make(chan struct{}),
		stopping: make(chan struct{}),
	}
	lines := make(chan lineResult)
	setupOver := make(chan struct{})
	readDone := make(chan struct{})
	go c.read(stdout, lines, setupOver, readDone)
	go c.wait(stdout, readDone)
	methods, err := c.readSetup(ctx, lines, done)
	close(setupOver)
	if err != nil {
		c.stop()
		return nil, nil, fmt.Errorf("%s: %w", c.program, err)
	}
	return c, methods, nil
}

// readSetup collects the method lines until the child says done.
func (c *child) readSetup(ctx context.Context, lines <-chan lineResult, done string) ([]message, error) {
	var methods []message
	for {
		var r lineResult
		var ok bool
		select {
		case r, ok = <-lines:
		case <-ctx.Done():
			return nil, fmt.Errorf("no %s DONE before the start timed out: %w", done, ctx.Err())
		}
		if !ok {
			select {
			case <-c.exited:
				return nil, fmt.Errorf("exited before %s DONE: %v", done, c.waitErr)
			case <-ctx.Done():
				return nil, fmt.Errorf("closed its stdout before %s DONE", done)
			}
		}
		if r.err != nil {
			return nil, fmt.Errorf("bad line: %w", r.err)
		}
		m := r.m
		switch m.keyword {
		case "VERSION":
			if m.text != "1" {
				return nil, fmt.Errorf("speaks managed-proxy version %q; we offered 1", shorten(m.text))
			}
		case "VERSION-ERROR", "ENV-ERROR", "PROXY-ERROR":
			return nil, fmt.Errorf("%s %s", m.keyword, shorten(m.text))
		case "CMETHOD-ERROR", "SMETHOD-ERROR":
			return nil, fmt.Errorf("%s %s: %s", m.keyword, m.method, shorten(m.text))
		case "CMETHOD", "SMETHOD":
			methods = append(methods, m)
		case done:
			if m.text == "DONE" {
				return methods, nil
			}
		case "LOG", "STATUS":
			c.log.Debug("pt child", "program", c.program, "line", shorten(m.keyword+" "+m.text))
		}
	}
}

// read hands the child's stdout lines to the setup reader until setupOver, and logs
// them after, until stdout ends.
func (c *child) read(stdout io.Reader, lines chan<- lineResult, setupOver <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 4096), maxLine)
	for sc.Scan() {
		m, err := parseLine(sc.Text())
		select {
		case lines <- lineResult{m, err}:
		case <-setupOver:
			if err == nil && (m.keyword == "LOG" || m.keyword == "STATUS") {
				c.log.Debug("pt child", "program", c.program, "line", shorten(m.keyword+" "+m.text))
			}
		}
	}
	close(lines)
	io.Copy(io.Discard, stdout) // after a too-long line: keep the child from blocking on stdout
}

// wait waits for the process to exit, then for read to reach the end of stdout (for
// at most stopGrace: a grandchild may hold it open), and closes exited.
func (c *child) wait(stdout *os.File, readDone <-chan struct{}) {
	c.waitErr = c.cmd.Wait()
	select {
	case <-readDone:
	case <-time.After(stopGrace):
	}
	stdout.Close()
	<-readDone
	close(c.exited)
	select {
	case <-c.stopping:
		c.log.Debug("pt child stopped", "program", c.program)
	default:
		c.log.Warn("pt child exited", "program", c.program, "err", c.waitErr)
	}
}

// alive reports whether the child is still running.
func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// interrupt asks the child to stop accepting but finish the connections it carries,
// as SIGINT means to a managed proxy (pt-spec 3.4; obfs4proxy and goptlib's examples
// do so).
func (c *child) interrupt() {
	if c.alive() {
		c.cmd.Process.Signal(syscall.SIGINT)
	}
}

// stop ends the child: stdin closes (TOR_PT_EXIT_ON_STDIN_CLOSE), SIGTERM follows, and
// after stopGrace it is killed. It returns once the child has exited.
func (c *child) stop() {
	c.stopOnce.Do(func() {
		close(c.stopping)
		c.stdin.Close()
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(stopGrace):
			c.cmd.Process.Kill()
		}
	})
	<-c.exited
}

// baseEnv is what a child inherits of ours: enough to run, nothing else (no proxy
// settings or tokens that happen to be in our environment).
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// lineLogger logs what a child writes on stderr, a line at a time, at debug level:
// PTs write diagnostics there that may name peers.
type lineLogger struct {
	log *slog.Logger
	buf []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log.Debug("pt child stderr", "line", shorten(string(w.buf[:i])))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLine {
		w.buf = w.buf[:0]
	}
	return len(p), nil
}
