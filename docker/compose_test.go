package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/internal/ready"
)

// The names of the web transports' sites in docker/compose/sites.env; the test keeps
// them, as an operator with those DNS names would.
var siteNames = []string{"tunnel.example.org", "ws.example.org", "meek.example.org"}

// exampleAddr is the public address in docker/compose/gateway.yaml that an operator
// replaces with the host's.
const exampleAddr = "203.0.113.5"

// nginxUID is the user the umbrella-nginx image runs as (docker/nginx/Dockerfile).
const nginxUID = 101

// stack is the compose stack of docker/compose.yaml, set up from a copy of docker/
// as the README's operator section says, on a loopback address of its own.
type stack struct {
	p        *podman
	dir      string // the copy of docker/
	project  string
	addr     string // UMBRELLA_ADDR: the loopback address the stack publishes on
	caFile   string // the CA of the sites' certificate, for the clients
	umbrella string // the static binary make image put in the image, run on the host
}

// TestComposeStackCarriesEveryTransport builds both images, starts the compose stack
// and runs a client on the host through each of its transports to its backend.
func TestComposeStackCarriesEveryTransport(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds two images and runs a compose stack")
	}
	p := newPodman(t)
	s := setUpStack(t, p)
	out := s.runREADME(t)
	if !strings.ContainsAny(out, "█▀▄") {
		t.Errorf("umbrella bridges --qr in the gateway container printed no QR code:\n%s", out)
	}

	lines := bridgeLines(out)
	for _, transport := range []string{"utls", "obfs4", "quic", "quicobfs", "webtunnel", "websocket", "meek"} {
		t.Run(transport, func(t *testing.T) {
			line, ok := lines[transport]
			if !ok {
				t.Fatalf("the gateway printed no %s line", transport)
			}
			if !strings.Contains(line, " "+s.addr+":") {
				t.Fatalf("the %s line does not carry the stack's address %s: %s", transport, s.addr, redact(line))
			}
			start := time.Now()
			s.echoThrough(t, transport, line, 1<<20)
			t.Logf("%s: 1 MiB echoed through the stack in %.1fs", transport, time.Since(start).Seconds())
		})
	}

	t.Run("health check", func(t *testing.T) {
		s.p.must(t, "", "podman", "healthcheck", "run", s.container("gateway"))
		cfg := s.p.must(t, "", "podman", "image", "inspect", "--format", "{{.User}} {{json .Config.Healthcheck}}", "localhost/umbrella-edge:latest")
		if !strings.HasPrefix(cfg, "65532:65532 ") || !strings.Contains(cfg, `"/usr/local/bin/umbrella","health"`) {
			t.Errorf("image user and health check: %s; want 65532:65532 and umbrella health", cfg)
		}
	})

	t.Run("no shell in the images", func(t *testing.T) {
		for _, image := range []string{"localhost/umbrella-edge:latest", "localhost/umbrella-nginx:latest"} {
			out, err := s.p.output(t.Context(), "podman", "run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "true")
			if err == nil {
				t.Errorf("%s runs /bin/sh: %s", image, out)
			}
		}
	})

	t.Run("probers see the website", func(t *testing.T) {
		// The utls listener's decoy is nginx's plain site, through the gateway's proxy.
		page := s.curl(t, "-k", "https://"+s.addr+":8443/")
		if !strings.Contains(page, "Example Garden Club") {
			t.Errorf("utls showed a prober:\n%s\nwant the site in docker/compose/www", page)
		}
		// nginx's site, for the web transports' names, and their secret paths
		// without the Upgrade are the same 404 as any missing page.
		site := s.curl(t, "--cacert", s.caFile, "--resolve", siteNames[0]+":443:"+s.addr, "https://"+siteNames[0]+"/")
		if !strings.Contains(site, "Example Garden Club") {
			t.Errorf("nginx showed:\n%s\nwant the site in docker/compose/www", site)
		}
	})
}

// setUpStack copies docker/ and makes the stack the test's as the README tells an
// operator to: the host's address in gateway.yaml, secret paths in gateway.yaml and
// sites.env, the sites' certificate readable by nginx's user.
func setUpStack(t *testing.T, p *podman) *stack {
	t.Helper()
	root := repoRoot(t)
	tmp := t.TempDir()
	s := &stack{p: p, dir: filepath.Join(tmp, "docker"), project: "umbrellatest" + randomHex(4), addr: loopbackAddr(t)}
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "docker"), s.dir).CombinedOutput(); err != nil {
		t.Fatalf("copy docker/: %v\n%s", err, out)
	}
	os.RemoveAll(filepath.Join(s.dir, "compose", "sites"))
	os.RemoveAll(filepath.Join(s.dir, "compose", "tls"))

	compose := filepath.Join(s.dir, "compose")
	replace(t, filepath.Join(compose, "gateway.yaml"), exampleAddr, s.addr)
	for _, transport := range []string{"webtunnel", "websocket", "meek"} {
		placeholder := "/replace-with-your-" + transport + "-path"
		secret := "/" + randomHex(16)
		replace(t, filepath.Join(compose, "gateway.yaml"), placeholder, secret)
		replace(t, filepath.Join(compose, "sites.env"), placeholder, secret)
	}

	ca, err := labca.New("compose test CA")
	if err != nil {
		t.Fatal(err)
	}
	s.caFile = filepath.Join(tmp, "ca.pem")
	if err := ca.WriteFile(s.caFile); err != nil {
		t.Fatal(err)
	}
	tls := filepath.Join(compose, "tls")
	cert, key, err := ca.WriteKeyPair(tls, siteNames...)
	if err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{cert: "fullchain.pem", key: "privkey.pem"} {
		if err := os.Rename(from, filepath.Join(tls, to)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{tls, filepath.Join(tls, "fullchain.pem"), filepath.Join(tls, "privkey.pem")} {
		if err := os.Chown(f, nginxUID, nginxUID); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// runREADME runs the README's container path as written: the "sh images" block on the
// build machine (the repository, its binaries in a directory of the test's), and the
// "sh compose" block in the directory holding the copy of docker/, with the stack's
// own project name and UMBRELLA_ADDR. apt-get is left out: .ci/run installed the
// same packages (TestREADMEOperatorBlocksAreAllRun). It returns the last command's
// output: the bridge lines and their QR codes.
func (s *stack) runREADME(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(filepath.Dir(s.dir), "bin")
	for _, line := range blocksTagged(t, "images") {
		if strings.HasPrefix(line, "make ") {
			s.p.must(t, repoRoot(t), "bash", "-euo", "pipefail", "-c", line+" BIN="+bin)
		} else {
			s.p.must(t, filepath.Dir(s.dir), "bash", "-euo", "pipefail", "-c", line)
		}
	}
	s.umbrella = filepath.Join(bin, "image", "rootfs", "usr", "local", "bin", "umbrella")
	s.upCleanup(t)
	var out string
	for _, line := range blocksTagged(t, "compose") {
		if strings.HasPrefix(line, "apt-get ") {
			continue
		}
		line = strings.Replace(line, "podman-compose ", "podman-compose -p "+s.project+" ", 1)
		out = s.runLine(t, line)
	}
	return out
}

// runLine runs one line of the README's compose block where the copy of docker/ is.
// The gateway writes its bridge lines a moment after up -d returns, so a command that
// asks for them is asked again until it answers.
func (s *stack) runLine(t *testing.T, line string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	var out []byte
	try := func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", line)
		cmd.Dir, cmd.Env = filepath.Dir(s.dir), append(s.p.env, "UMBRELLA_ADDR="+s.addr)
		var err error
		if out, err = cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		return nil
	}
	var err error
	if strings.Contains(line, " bridges ") {
		err = ready.Until(ctx, nil, try)
	} else {
		err = try(ctx)
	}
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	t.Logf("%s: %.1fs", shorten(line), time.Since(start).Seconds())
	return string(out)
}

// upCleanup stops and removes the stack, volume and network too, when the test
// ends, showing its logs if the test failed.
func (s *stack) upCleanup(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			for _, service := range []string{"gateway", "nginx", "backend"} {
				logs, _ := s.p.output(ctx, "podman", "logs", s.container(service))
				t.Logf("logs of %s:\n%s", service, logs)
			}
		}
		if out, err := s.compose(ctx, "down", "-v"); err != nil {
			t.Errorf("podman-compose down: %v\n%s", err, out)
		}
		s.p.output(ctx, "podman", "network", "rm", "-f", s.project+"_default")
	})
}

// compose runs podman-compose on the stack, with UMBRELLA_ADDR set as an operator
// would set it to the host's address.
func (s *stack) compose(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "podman-compose", append([]string{"-p", s.project, "-f", filepath.Join(s.dir, "compose.yaml")}, args...)...)
	cmd.Env = append(s.p.env, "UMBRELLA_ADDR="+s.addr)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// container is the name podman-compose gives a service's container.
func (s *stack) container(service string) string { return s.project + "_" + service + "_1" }

// bridgeLines picks the bridge lines, by transport, out of what umbrella bridges
// printed through podman-compose exec (which prints its own commands among them), QR
// codes and all.
func bridgeLines(out string) map[string]string {
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && strings.HasPrefix(f[2], "key=") {
			lines[f[0]] = strings.TrimSpace(l)
		}
	}
	return lines
}

// echoThrough runs a client on the host with line alone and sends n random bytes
// through a forward to the stack's mls service, which echoes them back.
func (s *stack) echoThrough(t *testing.T, transport, line string, n int) {
	t.Helper()
	forward, err := freeport.TCP("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "client.yaml")
	yaml := fmt.Sprintf("bridges:\n  - %s\nforwards: {%q: mls}\nca_file: %s\nlog: {level: debug}\n", line, forward, s.caFile)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	client := exec.Command(s.umbrella, "client", "--config", cfg)
	client.Stdout, client.Stderr = &log, &log
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { client.Wait(); close(exited) }()
	defer func() {
		client.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("client log:\n%s", log.String())
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := ready.TCP(ctx, forward, exited); err != nil {
		t.Fatalf("the client's forward: %v", err)
	}
	conn, err := net.Dial("tcp", forward)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	sent, received := sha256.New(), sha256.New()
	werr := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.MultiWriter(conn, sent), rand.Reader, int64(n))
		werr <- err
	}()
	if _, err := io.CopyN(received, conn, int64(n)); err != nil {
		t.Fatalf("read the echo through %s: %v", transport, err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write through %s: %v", transport, err)
	}
	if !bytes.Equal(sent.Sum(nil), received.Sum(nil)) {
		t.Fatalf("the backend's echo through %s differs from what was sent", transport)
	}
}

// curl fetches url as a prober would, from the host.
func (s *stack) curl(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		unavailable(t, "curl is not installed")
	}
	out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "30"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// loopbackAddr picks an address of 127.0.0.0/8 for the stack to publish on, so its
// ports (443, 8443, 9443) are its own and nothing is published beyond loopback.
func loopbackAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		var b [2]byte
		rand.Read(b[:])
		host, _ := rand.Int(rand.Reader, big.NewInt(250))
		addr := fmt.Sprintf("127.%d.%d.%d", 100+b[0]%100, b[1], 2+host.Int64())
		free := true
		for _, port := range []string{"443", "8443", "9443"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(addr, port))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return addr
		}
	}
	t.Fatal("no free loopback address for the stack")
	return ""
}

func replace(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q to replace", path, old)
	}
	if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte(old), []byte(new)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// redact keeps a bridge line's secrets out of the test's output.
func redact(line string) string {
	f := strings.Fields(line)
	if len(f) > 2 {
		return strings.Join(f[:2], " ") + " …"
	}
	return line
}
