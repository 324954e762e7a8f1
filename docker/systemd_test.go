package docker

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitBinary is where docker/umbrella.service runs the binary from.
const unitBinary = "/usr/local/bin/umbrella"

// buildUmbrella builds the umbrella command into dir.
func buildUmbrella(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "umbrella")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/umbrella")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// installedUnit is docker/umbrella.service with its binary at bin instead of
// /usr/local/bin (systemd-analyze checks that the binary is there): nothing else in it
// changes.
func installedUnit(t *testing.T, bin string) string {
	t.Helper()
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", "umbrella.service"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "umbrella.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), unitBinary, bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// systemd is not PID 1 on these machines, so the unit is verified, not started: every
// directive known and well-formed, its commands there, and its sandbox tight.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		unavailable(t, "systemd-analyze is not installed (apt-get install systemd)")
	}
	unit := installedUnit(t, buildUmbrella(t, t.TempDir()))

	// verify prints a warning, and still exits 0, for an unknown directive or a
	// misspelt system call group: any output is a failure.
	out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The exposure score of the sandbox, 0 (locked down) to 10 (none), 1.7 when this
	// was written; the threshold is on a scale of 100. Losing a hardening option raises
	// it past the threshold.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: %v: the unit's sandbox is weaker than exposure 2.0 (threshold 20 of 100)\n%s", err, out)
	}
}

func TestSystemdUnitHasTheHardeningItPromises(t *testing.T) {
	settings := unitSettings(t, filepath.Join(repoRoot(t), "docker", "umbrella.service"))
	for key, want := range map[string]string{
		"DynamicUser":           "yes",
		"ProtectSystem":         "strict",
		"StateDirectory":        "umbrella",
		"AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":       "yes",
		"SystemCallFilter":      "@system-service",
		"ExecStart":             unitBinary + " gateway --config /etc/umbrella/gateway.yaml",
		"ExecStartPre":          unitBinary + " gateway --check --config /etc/umbrella/gateway.yaml",
	} {
		if got := settings[key]; !containsValue(got, want) {
			t.Errorf("%s=%v, want %s", key, got, want)
		}
	}
}

// unitSettings reads a unit file's key=value lines, every value of a key in order.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			settings[k] = append(settings[k], v)
		}
	}
	return settings
}

func containsValue(values []string, want string) bool {
	for _, v := range values {
		if v == want {
			return true
		}
	}
	return false
}
