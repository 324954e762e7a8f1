// Package docker holds no code: its tests run the deployment files of this directory
// for real (the images and compose stack under Debian's podman, the systemd unit under
// systemd-analyze, the Grafana dashboard against a live gateway).
package docker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// repoRoot is the repository this test file is in.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Dir(filepath.Dir(file))
}

// unavailable skips a test that needs a tool this machine lacks, saying which; in CI
// (CI=true, where .ci/run installs every tool) it fails instead, so that CI never
// passes by skipping.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; .ci/run must install it", msg)
	}
	t.Skipf("skipped: %s", msg)
}

// podman runs Debian's podman and podman-compose as these machines need them: runc
// with cgroupfs (systemd is not PID 1) and no default ulimits (the sandbox refuses to
// raise them), from a containers.conf of the test's own, never the system's.
type podman struct {
	env []string // the environment of every podman and podman-compose command
}

const containersConf = `# Written by the umbrella container test; CONTAINERS_CONF points here.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`

// newPodman checks that podman can run containers here (as root: the stack publishes
// port 443), or skips the test saying why.
func newPodman(t *testing.T) *podman {
	t.Helper()
	for _, tool := range []string{"podman", "podman-compose", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s is not installed (apt-get install podman podman-compose runc)", tool)
		}
	}
	if os.Geteuid() != 0 {
		unavailable(t, "the container test runs podman as root, to publish port 443")
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte(containersConf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &podman{env: append(os.Environ(), "CONTAINERS_CONF="+conf)}
	if out, err := p.output(t.Context(), "podman", "info"); err != nil {
		unavailable(t, "podman cannot run here: %v\n%s", err, out)
	}
	return p
}

// output runs a podman or podman-compose command and returns its output, standard
// error included.
func (p *podman) output(ctx context.Context, name string, args ...string) (string, error) {
	return p.outputIn(ctx, "", name, args...)
}

func (p *podman) outputIn(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env, cmd.Dir = p.env, dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// must runs a command that has to succeed.
func (p *podman) must(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := p.outputIn(ctx, dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	t.Logf("%s: %.1fs", shorten(name+" "+strings.Join(args, " ")), time.Since(start).Seconds())
	return out
}

// shorten keeps a command short enough for one line of the test's log.
func shorten(cmd string) string {
	if len(cmd) > 100 {
		return cmd[:100] + "…"
	}
	return cmd
}
