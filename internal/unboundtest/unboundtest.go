// Package unboundtest runs Debian's real unbound for tests, the lab and the bench: the
// recursive resolver between the dns transport's client and the gateway, serving plain
// DNS, DNS over TLS and DNS over HTTPS on loopback. It never lets unbound ask anyone
// but the stub zones' servers.
package unboundtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/ready"
)

// Binary is where Debian installs unbound.
const Binary = "/usr/sbin/unbound"

// DoHPath is the path unbound serves DNS over HTTPS on (its default http-endpoint).
const DoHPath = "/dns-query"

// startTimeout bounds how long unbound may take to answer; it only keeps a broken
// setup from hanging.
const startTimeout = 20 * time.Second

// ErrMissing is wrapped when unbound is not installed.
var ErrMissing = errors.New("unbound is not installed (apt-get install unbound)")

// Config is what unbound serves.
type Config struct {
	// Listen is the loopback host:port of plain DNS over UDP and TCP. Required.
	Listen string
	// TLS and HTTPS are the host:ports of DNS over TLS and DNS over HTTPS; empty
	// leaves them off. They need CertFile and KeyFile.
	TLS, HTTPS string
	// CertFile and KeyFile are the PEM certificate chain and key DoT and DoH serve.
	CertFile, KeyFile string
	// Stubs maps each zone unbound resolves to the address of its authoritative
	// server (host:port). unbound refuses every other name.
	Stubs map[string]string
}

// Unbound is a running unbound.
type Unbound struct {
	// Dir holds its config and log.
	Dir     string
	Config  Config
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// Run starts unbound with cfg in dir and waits until it answers on every address.
// An address already taken makes the error wrap syscall.EADDRINUSE.
func Run(ctx context.Context, dir string, cfg Config) (*Unbound, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMissing, err)
	}
	conf, err := render(dir, cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	u := &Unbound{Dir: dir, Config: cfg, exited: make(chan struct{})}
	u.cmd = exec.Command(Binary, "-d", "-c", path)
	u.cmd.Stdout, u.cmd.Stderr = &out, &out
	dieWithParent(u.cmd)
	if err := u.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start unbound: %w", err)
	}
	go func() { u.exitErr = u.cmd.Wait(); close(u.exited) }()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	err = ready.DNS(ctx, cfg.Listen, u.exited)
	for _, addr := range []string{cfg.TLS, cfg.HTTPS} {
		if err == nil && addr != "" {
			err = ready.TCP(ctx, addr, u.exited)
		}
	}
	if err != nil {
		u.Stop()
		log := u.Log() + out.String()
		if strings.Contains(log, "Address already in use") {
			err = fmt.Errorf("%w: %w", err, syscall.EADDRINUSE)
		}
		return nil, fmt.Errorf("unbound: %w\n%s", err, log)
	}
	return u, nil
}

// render writes unbound's config. Its choices, beside loopback and no privileges:
//   - one thread, and room for many DoT and DoH connections (each carrier has one) and
//     for 4096 queries at once, as a resolver serving many users is configured (the
//     default, 1024, is for a small one; the conformance suite's 32 tunnels at once
//     from one machine overran it);
//   - QNAME minimisation, on by default in unbound and in many resolvers, left on, so
//     the tunnel is tested against it;
//   - "." refused and queries sent only from loopback, so that nothing but the stub
//     zones is ever resolved and no packet leaves the machine.
func render(dir string, cfg Config) (string, error) {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, "  "+format+"\n", args...) }
	b.WriteString("server:\n")
	for _, addr := range []string{cfg.Listen, cfg.TLS, cfg.HTTPS} {
		if addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", fmt.Errorf("unbound: address %q: %w", addr, err)
		}
		line("interface: %s@%s", host, port)
	}
	if cfg.TLS != "" || cfg.HTTPS != "" {
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return "", errors.New("unbound: DoT and DoH need CertFile and KeyFile")
		}
		line("tls-service-pem: %q", cfg.CertFile)
		line("tls-service-key: %q", cfg.KeyFile)
	}
	if cfg.TLS != "" {
		_, port, _ := net.SplitHostPort(cfg.TLS)
		line("tls-port: %s", port)
	}
	if cfg.HTTPS != "" {
		_, port, _ := net.SplitHostPort(cfg.HTTPS)
		line("https-port: %s", port)
		line("http-endpoint: %q", DoHPath)
	}
	for _, l := range []string{
		`do-ip6: no`, `username: ""`, `chroot: ""`, `pidfile: ""`, `use-syslog: no`,
		`verbosity: 1`, `num-threads: 1`, `incoming-num-tcp: 512`, `num-queries-per-thread: 4096`,
		`access-control: 127.0.0.0/8 allow`, `do-not-query-localhost: no`,
		`outgoing-interface: 127.0.0.1`, `qname-minimisation: yes`, `local-zone: "." refuse`,
	} {
		line("%s", l)
	}
	line("directory: %q", dir)
	line("logfile: %q", filepath.Join(dir, "unbound.log"))
	zones := make([]string, 0, len(cfg.Stubs))
	for z := range cfg.Stubs {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	for _, z := range zones {
		line("local-zone: %q transparent", strings.TrimSuffix(z, ".")+".")
	}
	for _, z := range zones {
		host, port, err := net.SplitHostPort(cfg.Stubs[z])
		if err != nil {
			return "", fmt.Errorf("unbound: stub %s: %w", z, err)
		}
		fmt.Fprintf(&b, "stub-zone:\n  name: %q\n  stub-addr: %s@%s\n", strings.TrimSuffix(z, ".")+".", host, port)
	}
	return b.String(), nil
}

// Stop ends unbound (SIGTERM) and waits for it.
func (u *Unbound) Stop() {
	u.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-u.exited:
	case <-time.After(10 * time.Second):
		u.cmd.Process.Kill()
		<-u.exited
	}
}

// Log returns unbound's log so far.
func (u *Unbound) Log() string {
	b, _ := os.ReadFile(filepath.Join(u.Dir, "unbound.log"))
	return string(b)
}

// FreeAddrs returns a loopback host:port on host for each of networks ("udp", "tcp"
// or "both", for plain DNS), free a moment ago.
func FreeAddrs(host string, networks ...string) ([]string, error) {
	out := make([]string, len(networks))
	for i, n := range networks {
		var err error
		if n == "both" {
			out[i], err = freeBoth(host)
		} else {
			out[i], err = freeport.For(n, host)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// freeBoth finds a port free for both UDP and TCP.
func freeBoth(host string) (string, error) {
	for range 16 {
		addr, err := freeport.UDP(host)
		if err != nil {
			return "", err
		}
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("unboundtest: no port free for UDP and TCP on %s", host)
}

// Start is Run for a test: in a temporary directory, stopped when the test ends, with
// its log shown if the test failed. A missing unbound fails the test.
func Start(t testing.TB, cfg Config) *Unbound {
	t.Helper()
	u, err := Run(context.Background(), t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		u.Stop()
		if t.Failed() {
			t.Logf("unbound log:\n%s", u.Log())
		}
	})
	return u
}
