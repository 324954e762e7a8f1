package docker

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/internal/freeport"
)

// Metric names the dashboard may query: the gateway's own and the Go and process
// collectors it registers (gateway/metrics.go).
var (
	metricRef = regexp.MustCompile(`\b((?:umbrella|process|go)_[a-zA-Z0-9_]+)\s*(\{[^}]*\})?`)
	matcher   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	byClause  = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
	// targetLabels are added by Prometheus when it scrapes, not by the gateway.
	targetLabels = []string{"instance", "job"}
)

// Every metric, and every label, the Grafana dashboard queries is one a live
// gateway's /metrics has.
func TestDashboardQueriesOnlyWhatTheGatewayExports(t *testing.T) {
	queries := dashboardQueries(t, filepath.Join(repoRoot(t), "docker", "grafana", "umbrella-gateway.json"))
	if len(queries) < 10 {
		t.Fatalf("found %d queries in the dashboard; the walk over its JSON is broken", len(queries))
	}
	exported := scrapeLiveGateway(t)

	for _, q := range queries {
		refs := metricRef.FindAllStringSubmatch(q, -1)
		if len(refs) == 0 {
			t.Errorf("query %q names no metric of the gateway", q)
		}
		labelsInQuery := map[string]bool{}
		for _, ref := range refs {
			name, labels := ref[1], exported[ref[1]]
			if labels == nil {
				t.Errorf("query %q: the gateway exports no %s", q, name)
				continue
			}
			for l := range labels {
				labelsInQuery[l] = true
			}
			for _, m := range matcher.FindAllStringSubmatch(ref[2], -1) {
				if !labels[m[1]] && !slices.Contains(targetLabels, m[1]) {
					t.Errorf("query %q: %s has no label %s", q, name, m[1])
				}
			}
		}
		for _, by := range byClause.FindAllStringSubmatch(q, -1) {
			for _, l := range strings.Split(by[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !labelsInQuery[l] && !slices.Contains(targetLabels, l) {
					t.Errorf("query %q: groups by %s, which none of its metrics has", q, l)
				}
			}
		}
	}
}

// dashboardQueries returns every PromQL expression of a dashboard: the panels'
// targets, rows' panels included, and the template variables' queries.
func dashboardQueries(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	return out
}

// scrapeLiveGateway starts the gateway with an admin listener and returns the
// metrics its /metrics lists, with the label names each has.
func scrapeLiveGateway(t *testing.T) map[string]map[string]bool {
	t.Helper()
	dir := t.TempDir()
	bin := buildUmbrella(t, dir)
	admin, listen, backend := freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "gateway.yaml")
	yaml := fmt.Sprintf("state_dir: %s\nlisteners: [{transport: tcp, listen: %q}]\nservices: {mls: %q}\nadmin: %q\n",
		filepath.Join(dir, "state"), listen, backend, admin)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startProcess(t, exec.Command(bin, "gateway", "--config", cfg))
	gw.awaitTCP(t, admin)
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return parseExposition(string(body))
}

// parseExposition reads Prometheus's text format: metric name → its label names.
func parseExposition(text string) map[string]map[string]bool {
	metrics := map[string]map[string]bool{}
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s`)
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)
	for _, line := range strings.Split(text, "\n") {
		m := sample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if metrics[m[1]] == nil {
			metrics[m[1]] = map[string]bool{}
		}
		for _, l := range label.FindAllStringSubmatch(m[3], -1) {
			metrics[m[1]][l[1]] = true
		}
	}
	return metrics
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.TCP("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
