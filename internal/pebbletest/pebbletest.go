// Package pebbletest runs Let's Encrypt's test CA, Pebble, on loopback for tests of
// ACME: pebble itself, and pebble-challtestsrv as the DNS server its validation asks,
// answering 127.0.0.1 for every name, so no challenge leaves the machine. Both are
// tools of the module (go.mod's tool lines), built here with the go command.
package pebbletest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/internal/ready"
)

// readyGuard only keeps a broken start from hanging a test.
const readyGuard = time.Minute

// Options say where Pebble validates challenges: the ports its validation connects
// to on 127.0.0.1, the address every name resolves to.
type Options struct {
	TLSPort  int // tls-alpn-01 (RFC 8737)
	HTTPPort int // http-01
	// Validity is the lifetime of the certificates Pebble issues; 0 means 90 days,
	// Let's Encrypt's.
	Validity time.Duration
}

// Server is a running Pebble.
type Server struct {
	// Directory is the ACME directory URL.
	Directory string
	// APIRoots verify the directory's own HTTPS (a lab CA's certificate).
	APIRoots *x509.CertPool
	// APIRootsFile holds the same certificate as PEM, for a gateway's acme.ca_file.
	APIRootsFile string
	// IssuerRoot is the PEM of the root that the certificates Pebble issues chain to;
	// Pebble makes it anew at each start.
	IssuerRoot []byte
}

// Start runs Pebble and its DNS server until the test ends.
func Start(t *testing.T, opts Options) *Server {
	t.Helper()
	bin := buildTools(t)
	dir := t.TempDir()
	ca, err := labca.New("Pebble API test CA")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.WriteKeyPair(dir, "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{APIRoots: ca.Pool(), APIRootsFile: filepath.Join(dir, "api-ca.pem")}
	if err := ca.WriteFile(s.APIRootsFile); err != nil {
		t.Fatal(err)
	}

	dnsAddr := pick(t, "udp")
	dns := run(t, filepath.Join(bin, "pebble-challtestsrv"), nil,
		"-dnsserver", dnsAddr, "-management", pick(t, "tcp"),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "")
	await(t, "pebble-challtestsrv's DNS", dns, func(ctx context.Context) error { return resolves(ctx, dnsAddr) })

	listen, mgmt := pick(t, "tcp"), pick(t, "tcp")
	validity := opts.Validity
	if validity == 0 {
		validity = 90 * 24 * time.Hour
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             certFile,
		"privateKey":              keyFile,
		"httpPort":                opts.HTTPPort,
		"tlsPort":                 opts.TLSPort,
		"keyAlgorithm":            "ecdsa",
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"profiles": map[string]any{"default": map[string]any{
			"description": "test", "validityPeriod": int(validity / time.Second),
		}},
	}}
	cfgFile := filepath.Join(dir, "pebble.json")
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// No random sleep before validating, every nonce accepted, and every order
	// validated anew (no authorization reused), so each issuance is a real one.
	env := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"}
	pebble := run(t, filepath.Join(bin, "pebble"), env, "-config", cfgFile, "-dnsserver", dnsAddr)
	s.Directory = "https://" + listen + "/dir"
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.APIRoots}}}
	await(t, "Pebble's directory", pebble, func(ctx context.Context) error {
		_, err := get(ctx, client, s.Directory)
		return err
	})
	await(t, "Pebble's root", pebble, func(ctx context.Context) error {
		s.IssuerRoot, err = get(ctx, client, "https://"+mgmt+"/roots/0")
		return err
	})
	return s
}

// buildTools builds pebble and pebble-challtestsrv into a directory of the test's
// (the go command's cache makes every build after the first a link).
func buildTools(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"github.com/letsencrypt/pebble/v2/cmd/pebble", "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build pebble: %v\n%s", err, out)
	}
	return dir
}

// proc is a child process; exited is closed when it has exited.
type proc struct {
	exited chan struct{}
}

func run(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &proc{exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			mu.Lock()
			t.Logf("output of %s:\n%s", filepath.Base(bin), out.String())
			mu.Unlock()
		}
	})
	return p
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func await(t *testing.T, what string, p *proc, check func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyGuard)
	defer cancel()
	if err := ready.Until(ctx, p.exited, check); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func pick(t *testing.T, network string) string {
	t.Helper()
	addr, err := freeport.For(network, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// resolves checks that the DNS server at addr answers 127.0.0.1 for a test name.
func resolves(ctx context.Context, addr string) error {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", addr)
	}}
	ips, err := r.LookupHost(ctx, "ready.example.test")
	if err != nil {
		return err
	}
	if len(ips) == 0 || ips[0] != "127.0.0.1" {
		return fmt.Errorf("ready.example.test resolves to %v, want 127.0.0.1", ips)
	}
	return nil
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}
