// Package nginxtest runs Debian's real nginx for tests: the web server and CDN edge that
// the web transports sit behind, configured from the files shipped in docker/nginx.
package nginxtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// Binary is where Debian installs nginx.
const Binary = "/usr/sbin/nginx"

// startTimeout bounds how long nginx may take to accept on its listen address; it only
// keeps a broken setup from hanging a test.
const startTimeout = 20 * time.Second

// Nginx is a running nginx.
type Nginx struct {
	// Dir is nginx's prefix directory: its config, logs and temp files live there.
	Dir string
}

// Start runs nginx with httpBody as the body of its http{} block, in its own prefix
// directory, and waits until it accepts on waitAddr. nginx runs as one process (no
// master, no workers dropping to nobody) so it can read the test's 0600 keys; it is
// stopped when the test ends. A missing nginx fails the test with how to install it.
func Start(t testing.TB, httpBody string, waitAddr string) *Nginx {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("nginx is needed for this test: install it with apt-get install nginx (%v)", err)
	}
	dir := t.TempDir()
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
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(Binary, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	n := &Nginx{Dir: dir}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("nginx error log:\n%s", n.ErrorLog())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", waitAddr)
		if err == nil {
			c.Close()
			return n
		}
		select {
		case err := <-exited:
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), n.ErrorLog())
		case <-ctx.Done():
			t.Fatalf("nginx did not accept on %s within %v: %v\n%s", waitAddr, startTimeout, err, n.ErrorLog())
		case <-time.After(20 * time.Millisecond):
		}
	}
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
// its test cannot drift apart silently.
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
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
