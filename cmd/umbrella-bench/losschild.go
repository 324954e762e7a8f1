package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/umbrella-edge/edge/internal/backend"
)

// lossChild is the bench binary run inside the namespace as the gateway side.
type lossChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  lossChildReady
	exited chan struct{}
	stderr strings.Builder
}

func startLossChild(ctx context.Context, l *lossLink, transports []string) (_ *lossChild, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the bench binary to run in the namespace: %w", err)
	}
	c := &lossChild{exited: make(chan struct{})}
	c.cmd = exec.Command("ip", "netns", "exec", l.ns, exe)
	c.cmd.Env = append(os.Environ(), lossChildEnv+"=1", quicNoGSO+"=true")
	c.cmd.Stderr = &c.stderr
	// ip netns exec execs the binary, which so inherits this: if the bench dies, so
	// does the child.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the loss child: %w", err)
	}
	go func() { c.cmd.Wait(); close(c.exited) }()
	defer func() {
		if err != nil {
			c.stop()
			err = fmt.Errorf("loss child: %w (stderr: %s)", err, strings.TrimSpace(c.stderr.String()))
		}
	}()
	if err := json.NewEncoder(c.stdin).Encode(lossChildSetup{Listen: l.nsIP, Transports: transports}); err != nil {
		return nil, err
	}
	got := make(chan error, 1)
	go func() { got <- json.NewDecoder(stdout).Decode(&c.ready) }()
	select {
	case err = <-got:
	case <-time.After(time.Minute):
		err = errors.New("no answer within a minute")
	case <-ctx.Done():
		err = ctx.Err()
	}
	return c, err
}

// stop closes the child's stdin, which ends it, and kills it if it lingers.
func (c *lossChild) stop() {
	c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// runLossChild is the gateway side of the loss step, in the namespace: backends on its
// loopback, which no loss touches, raw TCP to them and a gateway on the link.
func runLossChild(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	dec := json.NewDecoder(stdin)
	var setup lossChildSetup
	if err := dec.Decode(&setup); err != nil {
		return fmt.Errorf("read setup: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ready lossChildReady
	for _, svc := range []struct {
		addr   *string
		handle func(net.Conn)
	}{
		{&ready.Echo, backend.EchoConn},
		{&ready.Bulk, func(c net.Conn) {
			for bulkServe(c) == nil {
			}
		}},
	} {
		ln, err := net.Listen("tcp", net.JoinHostPort(setup.Listen, "0"))
		if err != nil {
			return err
		}
		*svc.addr = ln.Addr().String()
		go serveConns(ctx, ln, svc.handle)
	}
	gw, err := startInProcess(ctx, setup.Listen, setup.Transports)
	if err != nil {
		return err
	}
	defer gw.Close()
	for _, b := range gw.bridges {
		ready.Bridges = append(ready.Bridges, b.String())
	}
	if err := json.NewEncoder(stdout).Encode(ready); err != nil {
		return err
	}
	io.Copy(io.Discard, io.MultiReader(dec.Buffered(), stdin)) // until the bench closes it
	return nil
}
