package docker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/ready"
)

// The README's operator section is a walk-through whose every command a test runs. Its
// fenced blocks say where they run in their info string: "sh build" on the build
// machine, "sh vps" on the VPS (the systemd path: TestREADMEOperatorWalkthrough),
// "sh images" and "sh compose" for the container path (TestComposeStackCarriesEvery
// Transport), and "yaml PATH" is a file written at PATH.

// readmeBlock is one fenced block of the README's operator section.
type readmeBlock struct {
	lang, tag string   // "sh vps", "yaml /etc/umbrella/gateway.yaml"
	lines     []string // as written; for sh, one command a line
}

// commands are the block's command lines, comments and blank lines left out.
func (b readmeBlock) commands() []string {
	var out []string
	for _, l := range b.lines {
		if i := strings.Index(l, "  #"); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// operatorBlocks returns the fenced blocks of the README's "Run a bridge (operator)"
// section, in order.
func operatorBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n## Run a bridge (operator)\n")
	if start < 0 {
		t.Fatal("README.md has no \"Run a bridge (operator)\" section")
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var blocks []readmeBlock
	var cur *readmeBlock
	sc := bufio.NewScanner(strings.NewReader(section))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			lang, tag, _ := strings.Cut(strings.TrimPrefix(line, "```"), " ")
			cur = &readmeBlock{lang: lang, tag: strings.TrimSpace(tag)}
		case cur != nil && strings.HasPrefix(line, "```"):
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		}
	}
	return blocks
}

// blocksTagged returns the commands of the operator section's sh blocks tagged tag.
func blocksTagged(t *testing.T, tag string) []string {
	t.Helper()
	var out []string
	for _, b := range operatorBlocks(t) {
		if b.lang == "sh" && b.tag == tag {
			out = append(out, b.commands()...)
		}
	}
	if len(out) == 0 {
		t.Fatalf("the README's operator section has no \"sh %s\" block", tag)
	}
	return out
}

// Every block of the walk-through is one a test runs, and the packages it installs
// are the ones CI installs (a test does not run apt-get: .ci/run did).
func TestREADMEOperatorBlocksAreAllRun(t *testing.T) {
	ci, err := os.ReadFile(filepath.Join(repoRoot(t), ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range operatorBlocks(t) {
		switch {
		case b.lang == "sh" && (b.tag == "build" || b.tag == "vps" || b.tag == "images" || b.tag == "compose"):
		case b.lang == "yaml" && strings.HasPrefix(b.tag, "/"):
		default:
			t.Errorf("README block ```%s %s runs in no test: tag sh blocks build, vps, images or compose, and yaml blocks with their path", b.lang, b.tag)
		}
		for _, cmd := range b.commands() {
			if pkgs, ok := strings.CutPrefix(cmd, "apt-get install -y "); ok {
				for _, pkg := range strings.Fields(pkgs) {
					if !regexp.MustCompile(`\s` + regexp.QuoteMeta(pkg) + `(\s|$)`).Match(ci) {
						t.Errorf("the README installs %s, which .ci/run does not", pkg)
					}
				}
			}
		}
	}
}

// vpsRoot stands for the VPS's file system: the paths the walk-through writes are
// moved under a directory of the test's.
type vpsRoot struct {
	dir string
	ns  string // the network namespace the VPS's commands run in
}

// mapPaths rewrites the walk-through's system paths into the test's root.
func (r vpsRoot) mapPaths(s string) string {
	for _, p := range []string{"/etc/systemd/system", "/etc/umbrella", "/var/lib/umbrella", "/usr/local/bin"} {
		s = strings.ReplaceAll(s, p, r.dir+p)
	}
	return s
}

// command is a walk-through command run as root on the VPS: in its network namespace,
// with its paths mapped and its /usr/local/bin first in PATH, in the directory work.
func (r vpsRoot) command(work, line string) *exec.Cmd {
	cmd := exec.Command("ip", "netns", "exec", r.ns, "bash", "-euo", "pipefail", "-c", r.mapPaths(line))
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+r.dir+"/usr/local/bin:"+os.Getenv("PATH"))
	return cmd
}

// TestREADMEOperatorWalkthrough follows the README from a bare VPS to the QR code
// under systemd: it builds the binary, runs every "sh vps" command as written (in a
// network namespace where 203.0.113.5 is the VPS's address, with /etc, /var/lib and
// /usr/local under a directory of its own), starts the unit's commands where the
// README says systemctl, and then reaches the backend through a printed line.
func TestREADMEOperatorWalkthrough(t *testing.T) {
	if os.Geteuid() != 0 {
		unavailable(t, "the walk-through runs as root, in a network namespace of its own")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, "ip is not installed (apt-get install iproute2)")
	}
	root := vpsRoot{dir: t.TempDir(), ns: "umbrella-readme-" + randomHex(4)}
	newNamespace(t, root.ns, "203.0.113.5/32")
	for _, d := range []string{"etc/systemd/system", "var/lib", "usr/local/bin"} {
		if err := os.MkdirAll(filepath.Join(root.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// 1. Build, and copy the binary and the unit to the VPS's working directory.
	work, buildBin := t.TempDir(), t.TempDir()
	for _, line := range blocksTagged(t, "build") {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", line+" BIN="+buildBin)
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
	}
	copyFile(t, filepath.Join(buildBin, "umbrella"), filepath.Join(work, "umbrella"), 0o755)
	copyFile(t, filepath.Join(repoRoot(t), "docker", "umbrella.service"), filepath.Join(work, "umbrella.service"), 0o644)

	// 2-6, in the README's order, the config file where its block stands.
	var last string
	for _, b := range operatorBlocks(t) {
		switch {
		case b.lang == "yaml" && strings.HasPrefix(b.tag, "/"):
			path := root.mapPaths(b.tag)
			if err := os.WriteFile(path, []byte(root.mapPaths(strings.Join(b.lines, "\n"))+"\n"), 0o644); err != nil {
				t.Fatalf("write %s: %v", b.tag, err)
			}
		case b.lang == "sh" && b.tag == "vps":
			for _, line := range b.commands() {
				last = root.run(t, work, line)
			}
		}
	}

	// The last command printed the lines and their QR codes.
	var utls string
	for _, l := range strings.Split(last, "\n") {
		if strings.HasPrefix(l, "utls 203.0.113.5:443 key=") {
			utls = l
		}
	}
	if utls == "" || !strings.ContainsAny(last, "█▀▄") {
		t.Fatalf("umbrella bridges --qr printed no utls line with a QR code:\n%s", last)
	}
	root.echoThrough(t, work, utls)
}

// run runs one walk-through command: in the background when it ends in "&", the
// unit's commands for "systemctl enable --now", else to its end.
func (r vpsRoot) run(t *testing.T, work, line string) string {
	t.Helper()
	if line == "systemctl enable --now umbrella" {
		r.startUnit(t, work)
		return ""
	}
	if strings.HasPrefix(line, "systemctl") {
		t.Fatalf("the walk-through says %q: systemd is not PID 1 here, and the test knows only enable --now", line)
	}
	if bg, ok := strings.CutSuffix(line, "&"); ok {
		startProcess(t, r.command(work, strings.TrimSpace(bg)))
		// The stand-in backend: wait until it listens, as the next steps use it.
		if addr := regexp.MustCompile(`--listen (\S+)`).FindStringSubmatch(bg); addr != nil {
			r.awaitTCP(t, work, addr[1])
		}
		return ""
	}
	out, err := r.command(work, line).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return string(out)
}

// startUnit does what systemd would for the installed unit: ExecStartPre to its end,
// then ExecStart in the background, ready once it has written its bridge lines.
func (r vpsRoot) startUnit(t *testing.T, work string) {
	t.Helper()
	unit := unitSettings(t, filepath.Join(r.dir, "etc/systemd/system/umbrella.service"))
	for _, pre := range unit["ExecStartPre"] {
		if out, err := r.command(work, pre).CombinedOutput(); err != nil {
			t.Fatalf("ExecStartPre=%s: %v\n%s", pre, err, out)
		}
	}
	if len(unit["ExecStart"]) != 1 || len(unit["StateDirectory"]) != 1 {
		t.Fatalf("the unit has ExecStart=%v StateDirectory=%v; want one of each", unit["ExecStart"], unit["StateDirectory"])
	}
	gw := startProcess(t, r.command(work, unit["ExecStart"][0]))
	bridges := r.mapPaths(filepath.Join("/var/lib", unit["StateDirectory"][0], "bridges.txt"))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := ready.Until(ctx, gw.exited, func(context.Context) error {
		_, err := os.Stat(bridges)
		return err
	})
	if err != nil {
		t.Fatalf("the gateway wrote no bridge lines: %v\n%s", err, gw.out)
	}
}

// awaitTCP waits until something in the namespace accepts on addr.
func (r vpsRoot) awaitTCP(t *testing.T, work, addr string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	probe := fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port)
	err := ready.Until(ctx, nil, func(context.Context) error {
		return r.command(work, probe).Run()
	})
	if err != nil {
		t.Fatalf("nothing accepts on %s in the namespace: %v", addr, err)
	}
}

// echoThrough runs a client in the namespace with line alone, and sends bytes
// through its forward to the mls service, which the stand-in echoes back.
func (r vpsRoot) echoThrough(t *testing.T, work, line string) {
	t.Helper()
	const forward = "127.0.0.1:17443"
	cfg := filepath.Join(work, "client.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("bridges:\n  - %s\nforwards: {%q: mls}\n", line, forward)), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, r.command(work, "umbrella client --config "+cfg))
	r.awaitTCP(t, work, forward)
	// The bytes go in and out through the namespace, by a program running in it.
	msg := make([]byte, 64<<10)
	rand.Read(msg)
	// A background job's standard input is /dev/null unless given: hence fd 4.
	script := fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/17443 4<&0; cat <&4 >&3 & timeout 60 head -c %d <&3", len(msg))
	cmd := r.command(work, script)
	cmd.Stdin = bytes.NewReader(msg)
	var got bytes.Buffer
	cmd.Stdout = &got
	if err := cmd.Run(); err != nil {
		t.Fatalf("echo through the bridge line: %v (got %d of %d bytes)", err, got.Len(), len(msg))
	}
	if sha256.Sum256(got.Bytes()) != sha256.Sum256(msg) {
		t.Fatalf("the backend's echo through the bridge line differs from what was sent (%d of %d bytes)", got.Len(), len(msg))
	}
}

// newNamespace makes a network namespace whose loopback also holds addrs, removed
// when the test ends: the VPS's public address, reachable from nowhere else.
func newNamespace(t *testing.T, name string, addrs ...string) {
	t.Helper()
	ipCmd := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ipCmd("netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ipCmd("-n", name, "link", "set", "lo", "up")
	for _, a := range addrs {
		ipCmd("-n", name, "addr", "add", a, "dev", "lo")
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
