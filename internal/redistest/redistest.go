// Package redistest runs Debian's real redis-server on loopback for tests, the lab and
// the bench: the shared store of a fleet of edges. It can kill the server and start it
// again on the same port, as an outage does. It is never part of a deployment.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/ready"
)

// Binary is where Debian installs redis-server.
const Binary = "/usr/bin/redis-server"

// startTimeout bounds how long redis-server may take to answer PING; it only keeps a
// broken setup from hanging.
const startTimeout = 20 * time.Second

// Options shape the server.
type Options struct {
	// Password is required of clients (requirepass) when not empty.
	Password string
	// TLS, when its files are set, makes the server speak TLS only (port 0 for plain).
	TLS TLSFiles
	// Users are ACL users, each a user directive's words ("edge on >pw ~k:* +get").
	Users [][]string
}

// TLSFiles are the PEM files of a TLS-only server; clients need no certificate.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
}

// Server is a redis-server process on loopback. It keeps nothing on disk: a kill
// loses every key, as an outage of a Redis without persistence does.
type Server struct {
	// Addr is host:port; it stays the same across Kill and Start.
	Addr string
	opts Options
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *lockedWriter
}

// Run starts redis-server in dir (its working directory) and waits until it answers.
func Run(ctx context.Context, dir string, opts Options) (*Server, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, fmt.Errorf("redis-server is needed: install it with apt-get install redis-server (%w)", err)
	}
	addr, err := freeport.TCP("127.0.0.1")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: addr, opts: opts, dir: dir}
	return s, s.Start(ctx)
}

// Start starts the server again after Kill, on the same address, empty.
func (s *Server) Start(ctx context.Context) error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--bind", "127.0.0.1", "--dir", s.dir, "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--loglevel", "warning"}
	if s.opts.TLS.CertFile != "" {
		args = append(args, "--port", "0", "--tls-port", port, "--tls-cert-file", s.opts.TLS.CertFile,
			"--tls-key-file", s.opts.TLS.KeyFile, "--tls-ca-cert-file", s.opts.TLS.CAFile, "--tls-auth-clients", "no")
	} else {
		args = append(args, "--port", port)
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	for _, u := range s.opts.Users {
		args = append(append(args, "--user"), u...)
	}
	cmd := exec.Command(Binary, args...)
	out := &lockedWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.out = cmd, exited, out
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	check := s.ping
	if s.opts.TLS.CertFile != "" {
		check = func(ctx context.Context) error { return ready.TCP(ctx, s.Addr, exited) }
	}
	if err := ready.Until(ctx, exited, check); err != nil {
		s.Kill()
		return fmt.Errorf("redis-server on %s: %w\n%s", s.Addr, err, out)
	}
	return nil
}

// UsedMemory returns the bytes the server's allocator holds for its data
// (used_memory in INFO memory), as the server counts them.
func (s *Server) UsedMemory(ctx context.Context) (int64, error) {
	var used int64 = -1
	err := s.ask(ctx, "INFO memory", func(line string) (bool, error) {
		v, ok := strings.CutPrefix(line, "used_memory:")
		if !ok {
			return false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		used = n
		return true, err
	})
	return used, err
}

// ping asks the plain-text server PING, as a client would, with AUTH first if needed.
func (s *Server) ping(ctx context.Context) error {
	err := s.ask(ctx, "PING", func(line string) (bool, error) { return line == "+PONG", nil })
	if err != nil && strings.HasPrefix(err.Error(), "-NOAUTH") {
		return nil // it answered: its default user is off, and only its ACL users get in
	}
	return err
}

// ask sends one inline command (after AUTH, if the server wants a password) and reads
// reply lines until done says it found its line.
func (s *Server) ask(ctx context.Context, command string, done func(line string) (bool, error)) error {
	c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	req := command + "\r\n"
	if s.opts.Password != "" {
		req = fmt.Sprintf("AUTH %s\r\n%s", s.opts.Password, req)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "-") {
			return errors.New(line)
		}
		if ok, err := done(line); ok || err != nil {
			return err
		}
	}
}

// Kill ends the server with SIGKILL and waits for it: every key is lost.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL) // a frozen process dies too
	<-exited
}

// Freeze stops the server (SIGSTOP) without closing its connections, as a network
// partition looks to its clients; Thaw (SIGCONT) lets it go on, with its data.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw lets a frozen server go on.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(sig)
	}
}

// Output is what the server printed, for failure messages.
func (s *Server) Output() string {
	s.mu.Lock()
	out := s.out
	s.mu.Unlock()
	if out == nil {
		return ""
	}
	return out.String()
}

// lockedWriter is the server's output, written by the process's pipes and read by
// the test.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
