package layers_test

import (
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/umbrella-edge/edge"

// TestLayersImportOnlyWhatIsBelowThem lists, with the go command, what packages
// depend on, and fails naming each package of the module they must not reach and which
// allowed package imports it.
func TestLayersImportOnlyWhatIsBelowThem(t *testing.T) {
	tests := []struct {
		name      string
		list      []string // go list arguments after -deps
		forbidden []string // packages of the module, and everything under them
		allowed   []string // exceptions below a forbidden package
	}{
		{
			name:      "transports and their tests know nothing above them",
			list:      []string{"-test", module + "/transports/..."},
			forbidden: []string{"session", "gateway", "client", "config", "probes"},
		},
		{
			name:      "the embeddable client does without the YAML loader",
			list:      []string{module + "/client"},
			forbidden: []string{"config"},
		},
		{
			// A package imported is a package linked and initialized: through config,
			// the gateway brought Prometheus, protobuf and Redis into the client binary,
			// 2 MB of pages it never runs and 2 MB of its RSS (make bench). The
			// config and the probe tool read the gateway's defaults from gateway/limits.
			name:      "the client binary, the config and the probe tool link no gateway",
			list:      []string{module + "/cmd/umbrella-client", module + "/config", module + "/probes"},
			forbidden: []string{"gateway"},
			allowed:   []string{"gateway/limits"},
		},
		{
			// The probe tool names failures with it; the session's errors, and the
			// certificate verdicts of trust (which imports nothing of ours), are all
			// it needs.
			name:      "the failure classifier stands on the session and trust alone",
			list:      []string{module + "/client/failure"},
			forbidden: []string{"transports", "gateway", "config", "probes", "client/proxy"},
			allowed:   []string{"transports/trust"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { reachesNone(t, tt.list, tt.forbidden, tt.allowed...) })
	}
}

// TestTLSToolkitImportsNoTransport holds transports/tlskit, which the TLS transports and
// the censor share, beneath every transport: none of the packages transports/all
// registers, nor the web front three of them share.
func TestTLSToolkitImportsNoTransport(t *testing.T) {
	forbidden := []string{"transports/internal/httpfront", "transports/all"}
	for _, imp := range deps(t, module+"/transports/all")[module+"/transports/all"] {
		if name, ok := strings.CutPrefix(imp, module+"/"); ok && strings.HasPrefix(name, "transports/") {
			forbidden = append(forbidden, name)
		}
	}
	if len(forbidden) < 5 {
		t.Fatalf("transports/all imports only %v: not the list of transports this test expects", forbidden)
	}
	reachesNone(t, []string{"-test", module + "/transports/tlskit/..."}, forbidden)
}

// reachesNone fails naming each package of forbidden (module paths, and everything under
// them, except the packages of allowed) that go list -deps list names, and which allowed
// package imports it.
func reachesNone(t *testing.T, list, forbidden []string, allowed ...string) {
	t.Helper()
	imports := deps(t, list...)
	for _, pkg := range slices.Sorted(maps.Keys(imports)) {
		if !under(pkg, forbidden) || under(pkg, allowed) {
			continue
		}
		var by []string
		for importer, imps := range imports {
			if slices.Contains(imps, pkg) && !under(importer, forbidden) {
				by = append(by, importer)
			}
		}
		slices.Sort(by)
		t.Errorf("go list -deps %s names %s, imported by %s", strings.Join(list, " "), pkg, strings.Join(by, ", "))
	}
}

// deps runs go list -deps with args and returns every package it names with the
// packages it imports, test variants ("p [q.test]") folded into p.
func deps(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	// go test puts the go command that runs it first in PATH.
	list := []string{"list", "-deps", "-f", "{{.ImportPath}}\t{{join .Imports \"\\t\"}}"}
	out, err := exec.Command("go", append(list, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	variant := func(p string) string { name, _, _ := strings.Cut(p, " ["); return name }
	imports := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		pkg := variant(fields[0])
		if _, ok := imports[pkg]; !ok {
			imports[pkg] = nil // named even when it imports nothing
		}
		for _, imp := range fields[1:] {
			if imp != "" {
				imports[pkg] = append(imports[pkg], variant(imp))
			}
		}
	}
	return imports
}

// under reports whether pkg is one of the module's packages named in roots, or below one.
func under(pkg string, roots []string) bool {
	for _, r := range roots {
		if p := module + "/" + r; pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}
