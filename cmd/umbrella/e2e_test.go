package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/ready"
)

// The end-to-end tests run the real binary as an operator and a user would: a gateway
// process, client processes, apps speaking SOCKS5 and plain TCP, curl as a prober.

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "umbrella")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	addr, err := freeport.TCP("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// process is a child umbrella process whose output is kept for failure messages.
type process struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // how it exited; set before exited is closed
}

// syncBuffer is a bytes.Buffer that the child's output and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func start(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), out: new(syncBuffer), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("output of umbrella %v:\n%s", args, p.out)
		}
	})
	return p
}

// readyGuard bounds a wait for a child to be ready. It only keeps a broken start from
// hanging the test; a child that exits ends the wait at once.
const readyGuard = time.Minute

// await waits until check passes, failing the test if the process exits first.
func (p *process) await(t *testing.T, what string, check func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyGuard)
	defer cancel()
	if err := ready.Until(ctx, p.exited, func(context.Context) error { return check() }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// awaitPort waits until the process accepts on addr.
func (p *process) awaitPort(t *testing.T, what, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyGuard)
	defer cancel()
	if err := ready.TCP(ctx, addr, p.exited); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// fileExists is a check for await.
func fileExists(path string) func() error {
	return func() error {
		_, err := os.Stat(path)
		return err
	}
}

type gatewayUnderTest struct {
	proc      *process
	config    string
	stateDir  string
	admin     string
	listeners map[string]string // transport → address
}

const e2eHandshakeTimeout = time.Second

func startGateway(t *testing.T, bin, echoAddr string) *gatewayUnderTest {
	t.Helper()
	dir := t.TempDir()
	g := &gatewayUnderTest{
		config: filepath.Join(dir, "gateway.yaml"), stateDir: filepath.Join(dir, "state"),
		admin: freePort(t), listeners: map[string]string{"tcp": freePort(t), "utls": freePort(t)},
	}
	yaml := fmt.Sprintf(`state_dir: %s
listeners:
  - transport: tcp
    listen: %s
  - transport: utls
    listen: %s
    args: {servername: www.example.com}
services:
  echo: %s
admin: %s
limits: {handshake_timeout: %s}
log: {level: debug}
`, g.stateDir, g.listeners["tcp"], g.listeners["utls"], echoAddr, g.admin, e2eHandshakeTimeout)
	if err := os.WriteFile(g.config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	g.proc = start(t, bin, "gateway", "--config", g.config)
	g.proc.await(t, "the gateway's bridge lines", fileExists(filepath.Join(g.stateDir, bridgesFile)))
	g.proc.awaitPort(t, "the gateway's admin listener", g.admin)
	return g
}

func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { backend.Echo{}.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func TestEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	g := startGateway(t, bin, startEcho(t))

	out, err := exec.Command(bin, "bridges", "--config", g.config).Output()
	if err != nil {
		t.Fatalf("umbrella bridges: %v", err)
	}
	bridges := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		bridges[strings.Fields(line)[0]] = line
	}
	for _, transport := range []string{"tcp", "utls"} {
		t.Run(transport, func(t *testing.T) {
			line, ok := bridges[transport]
			if !ok {
				t.Fatalf("umbrella bridges printed no %s line:\n%s", transport, out)
			}
			socks, forward := freePort(t), freePort(t)
			cfg := filepath.Join(t.TempDir(), "client.yaml")
			yaml := fmt.Sprintf("bridges:\n  - %s\nsocks: %s\nforwards: {%q: echo}\nlog: {level: debug}\n", line, socks, forward)
			if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			client := start(t, bin, "client", "--config", cfg)
			client.awaitPort(t, "the client's SOCKS5 port", socks)
			client.awaitPort(t, "the client's forward port", forward)

			conn := socks5Connect(t, socks, "echo", 443)
			echoTransfer(t, conn, 4<<20)
			conn, err := net.Dial("tcp", forward)
			if err != nil {
				t.Fatal(err)
			}
			echoTransfer(t, conn, 1<<20)
			client.await(t, "the client to log its transport", func() error {
				if !strings.Contains(client.out.String(), "transport="+transport) {
					return fmt.Errorf("no transport=%s in its log", transport)
				}
				return nil
			})

			// A host that is not a service must not be reachable: no open proxy.
			refused := socks5Request(t, socks, "203.0.113.9", 80)
			if refused != 0x02 {
				t.Errorf("SOCKS5 CONNECT to an arbitrary address: reply %#x, want 0x02 (not allowed)", refused)
			}
		})
	}

	t.Run("utls decoy through curl", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Fatal("curl is needed to probe the decoy as a person would (apt-get install curl)")
		}
		out, err := exec.Command(curl, "-sk", "--max-time", "20", "-D", "-", "https://"+g.listeners["utls"]+"/").CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		page := string(out)
		if !strings.HasPrefix(page, "HTTP/1.1 200") || !strings.Contains(page, "<title>") {
			t.Errorf("curl saw no website:\n%s", page)
		}
		for _, leak := range []string{"umbrella", "proxy", "session", "handshake"} {
			if strings.Contains(strings.ToLower(page), leak) {
				t.Errorf("decoy page mentions %q:\n%s", leak, page)
			}
		}
	})

	t.Run("tcp silence", func(t *testing.T) {
		junk := make([]byte, 300)
		rand.Read(junk)
		for name, probe := range map[string][]byte{
			"random bytes": junk,
			"http request": []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
			"nothing":      nil,
		} {
			got, closedAfter := probeSilence(t, g.listeners["tcp"], probe)
			if len(got) != 0 {
				t.Errorf("%s: the gateway answered %q", name, got)
			}
			// The close comes at a random time after the handshake timeout, whatever was
			// sent; never right after a rejected hello.
			if closedAfter < e2eHandshakeTimeout {
				t.Errorf("%s: closed after %v, before the handshake timeout %v", name, closedAfter, e2eHandshakeTimeout)
			}
		}
	})

	t.Run("admin", func(t *testing.T) {
		body := httpGet(t, "http://"+g.admin+"/metrics")
		for _, want := range []string{
			`umbrella_gateway_handshakes_total{reason="",result="ok",transport="tcp"}`,
			`umbrella_gateway_handshakes_total{reason="",result="ok",transport="utls"}`,
			`umbrella_gateway_bytes_total{direction="up",transport="tcp"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if got := httpGet(t, "http://"+g.admin+"/healthz"); strings.TrimSpace(got) != "ok" {
			t.Errorf("/healthz = %q", got)
		}
		// What the container image's HEALTHCHECK runs.
		if out, err := exec.Command(bin, "health", "--config", g.config).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("umbrella health --config: %v: %s", err, out)
		}
	})

	t.Run("logs", func(t *testing.T) {
		logs := g.proc.out.String()
		if strings.Contains(logs, "client=") || strings.Contains(logs, "remote") {
			t.Errorf("gateway logged client addresses without log.client_ips:\n%s", logs)
		}
		secret := strings.TrimPrefix(fieldOf(bridges["tcp"], "secret="), "secret=")
		if secret == "" || strings.Contains(logs, secret) {
			t.Errorf("gateway log contains the bridge secret (or the bridge line has none)")
		}
	})

	t.Run("SIGTERM drains", func(t *testing.T) {
		g.proc.cmd.Process.Signal(syscall.SIGTERM)
		// One Wait per process: start's goroutine waits, and says so on exited.
		select {
		case <-g.proc.exited:
			if err := g.proc.err; err != nil {
				t.Errorf("gateway exited with %v after SIGTERM", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("gateway did not exit after SIGTERM")
		}
	})
}

func fieldOf(line, prefix string) string {
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, prefix) {
			return f
		}
	}
	return ""
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// probeSilence sends probe and returns what came back and how long the gateway kept the
// connection open.
func probeSilence(t *testing.T, addr string, probe []byte) ([]byte, time.Duration) {
	t.Helper()
	// Timed from before the dial: the gateway cannot have accepted earlier, whereas a
	// clock read after Dial returns may come late on a loaded machine (the close then
	// seemed to come 24 ms before the handshake timeout).
	t0 := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(probe)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, _ := io.ReadAll(conn)
	return got, time.Since(t0)
}

// echoTransfer writes n random bytes while reading the echo, and compares hashes.
func echoTransfer(t *testing.T, conn net.Conn, n int) {
	t.Helper()
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	sent := sha256.New()
	errc := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.MultiWriter(conn, sent), rand.Reader, int64(n))
		errc <- err
	}()
	received := sha256.New()
	if _, err := io.CopyN(received, conn, int64(n)); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(sent.Sum(nil), received.Sum(nil)) {
		t.Fatal("echoed bytes differ from the bytes sent")
	}
}

// socks5Request performs a SOCKS5 CONNECT by hand (the wire is the spec) and returns
// the reply code; on success the conn is left to the caller via socks5Connect.
func socks5Handshake(t *testing.T, proxyAddr, host string, port int) (net.Conn, byte) {
	t.Helper()
	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := []byte{5, 1, 0} // version 5, one method: no authentication
	req = append(req, 5, 1, 0)
	if ip := net.ParseIP(host).To4(); ip != nil {
		req = append(req, 1)
		req = append(req, ip...)
	} else {
		req = append(req, 3, byte(len(host)))
		req = append(req, host...)
	}
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	reply := make([]byte, 2+10) // method choice, then a reply with an IPv4 bound address
	if _, err := io.ReadFull(br, reply); err != nil {
		t.Fatalf("SOCKS5 reply: %v", err)
	}
	if reply[0] != 5 || reply[1] != 0 {
		t.Fatalf("SOCKS5 method choice %x", reply[:2])
	}
	conn.SetDeadline(time.Time{})
	return &bufferedConn{Conn: conn, r: br}, reply[3]
}

func socks5Connect(t *testing.T, proxyAddr, host string, port int) net.Conn {
	conn, code := socks5Handshake(t, proxyAddr, host, port)
	if code != 0 {
		t.Fatalf("SOCKS5 CONNECT %s: reply %#x", host, code)
	}
	return conn
}

func socks5Request(t *testing.T, proxyAddr, host string, port int) byte {
	conn, code := socks5Handshake(t, proxyAddr, host, port)
	conn.Close()
	return code
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keygen", "--state-dir", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	first := out.String()
	if err := run(context.Background(), []string{"keygen", "--state-dir", dir, "--secret", "next.key"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "identity.key (exists, kept)") || !strings.Contains(out.String(), "next.key (generated)") {
		t.Errorf("second keygen should keep the identity and add next.key:\n%s", out.String())
	}
	if !strings.Contains(first, "public key") {
		t.Errorf("keygen did not print the public key:\n%s", first)
	}
	for _, name := range []string{"identity.key", "secret.key", "next.key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if err := run(context.Background(), []string{"keygen", "--state-dir", dir, "--secret", "../escape.key"}, io.Discard, io.Discard); err == nil {
		t.Error("keygen accepted a secret path outside the state directory")
	}
}

// TestDemo runs the README's first command in-process. The demo itself fails if a
// chat message is lost, duplicated or reordered, or if a client cannot resume; this
// checks that it ran its story: three escalations, alice moving to a new transport at
// each, every message delivered, and the probes seeing a website or silence.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var buf syncBuffer
	if err := run(ctx, []string{"demo", "--messages", "2"}, &buf, io.Discard); err != nil {
		t.Fatalf("demo: %v\n%s", err, buf.String())
	}
	out := buf.String()
	defer func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", out)
		}
	}()
	for _, want := range []string{
		"escalation 1/3", "escalation 2/3", "escalation 3/3",
		"lost 0, none duplicated or out of order",
		"(the decoy)", "no answer",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if n := strings.Count(out, "\nalice     moved to "); n < 3 {
		t.Errorf("alice moved %d times, want one move per escalation (3)", n)
	}
	if n := strings.Count(out, "nothing lost: every message sent so far has arrived"); n != 3 {
		t.Errorf("%d checks that nothing was lost after a move, want 3", n)
	}
	var aSent, bGot, bSent, aGot int
	i := strings.Index(out, "summary   ")
	if i < 0 {
		t.Fatal("no summary")
	}
	if _, err := fmt.Sscanf(out[i:], "summary   alice sent %d messages and bob received %d; bob sent %d and alice received %d:",
		&aSent, &bGot, &bSent, &aGot); err != nil {
		t.Fatalf("summary unreadable: %v", err)
	}
	if aSent == 0 || aSent != bGot || bSent == 0 || bSent != aGot {
		t.Errorf("summary: alice sent %d, bob received %d; bob sent %d, alice received %d: want equal and not 0", aSent, bGot, bSent, aGot)
	}
	// Each escalation blocked the transport alice was on, so her path never repeats.
	_, path, _ := strings.Cut(out, "alice used ")
	path, _, _ = strings.Cut(path, ";")
	used := strings.Split(path, " → ")
	seen := map[string]bool{}
	for _, tr := range used {
		if seen[tr] {
			t.Errorf("alice went back to %s, which the censor had blocked: %s", tr, path)
		}
		seen[tr] = true
	}
	if len(used) < 4 {
		t.Errorf("alice used %q, want a first transport and one more per escalation", path)
	}
}
