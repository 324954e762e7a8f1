// Package nginxtest runs Debian's real nginx for tests and the lab: the web server and
// CDN edge that the web transports sit behind, configured from docker/nginx's files.
package nginxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/ready"
)

// Binary is where Debian installs nginx.
const Binary = "/usr/sbin/nginx"

// startTimeout bounds how long nginx may take to accept on its listen addresses; it
// only keeps a broken setup from hanging.
const startTimeout = 20 * time.Second

// Nginx is a running nginx.
type Nginx struct {
	// Dir is nginx's prefix directory: its config, logs and temp files live there.
	Dir     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when nginx has exited, with exitErr set
	exitErr error
}

// Run starts nginx with httpBody as the body of its http{} block, in the prefix
// directory dir, and waits until it accepts on every one of waitAddrs. nginx runs as
// one process (no master, no workers dropping to nobody) so it can read 0600 keys.
// An address already taken makes the error wrap syscall.EADDRINUSE.
func Run(ctx context.Context, dir, httpBody string, waitAddrs ...string) (*Nginx, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, fmt.Errorf("nginx is needed: install it with apt-get install nginx (%w)", err)
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 1024; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	include /etc/nginx/mime.types;
%[2]s
}
`, dir, httpBody)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	n := &Nginx{Dir: dir, exited: make(chan struct{})}
	n.cmd = exec.Command(Binary, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	n.cmd.Stdout, n.cmd.Stderr = &out, &out
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	go func() { n.exitErr = n.cmd.Wait(); close(n.exited) }()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for _, addr := range waitAddrs {
		if err := n.waitAccept(ctx, addr, &out); err != nil {
			n.Stop()
			return nil, err
		}
	}
	return n, nil
}

func (n *Nginx) waitAccept(ctx context.Context, addr string, out *bytes.Buffer) error {
	err := ready.TCP(ctx, addr, n.exited)
	switch {
	case errors.Is(err, ready.ErrExited):
		log := n.ErrorLog()
		err := n.exitErr
		if strings.Contains(log, "Address already in use") {
			err = fmt.Errorf("%w: %w", err, syscall.EADDRINUSE)
		}
		return fmt.Errorf("nginx exited: %w\n%s\n%s", err, out.String(), log)
	case err != nil:
		return fmt.Errorf("nginx: %w\n%s", err, n.ErrorLog())
	}
	return nil
}

// Stop ends nginx (SIGTERM is its fast shutdown) and waits for it.
func (n *Nginx) Stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
}

// Start is Run for a test: in a temporary prefix directory, stopped when the test ends,
// with its error log shown if the test failed. A missing nginx fails the test.
func Start(t testing.TB, httpBody string, waitAddr string) *Nginx {
	t.Helper()
	n, err := Run(context.Background(), t.TempDir(), httpBody, waitAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("nginx error log:\n%s", n.ErrorLog())
		}
	})
	return n
}

// ErrorLog returns nginx's error log so far.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "error.log"))
	return string(b)
}

// AccessLog returns nginx's access log so far.
func (n *Nginx) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "access.log"))
	return string(b)
}

var placeholder = regexp.MustCompile(`\$\{([A-Z_]+)\}`)

// Render reads a shipped config template (docker/nginx/*.conf) and replaces each
// ${NAME} with vars[NAME]. A placeholder without a value is an error, so a template and
// its users cannot drift apart silently.
func Render(path string, vars map[string]string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var missing []string
	out := placeholder.ReplaceAllStringFunc(string(b), func(m string) string {
		name := placeholder.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if missing != nil {
		return "", fmt.Errorf("render %s: no value for %v", path, missing)
	}
	return out, nil
}

// FreeAddr returns host:port with a port that was free a moment ago on host (any
// 127.0.0.0/8 address), for servers that must be told their address up front.
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	addr, err := freeport.TCP(host)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
