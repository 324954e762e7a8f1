package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/internal/labca"
)

// checkSetup is config/testdata/gateway.yaml made to pass gateway --check in dir: its
// state directory, secret file, decoy site, and the fleet's Redis password file and
// CA exist there.
type checkSetup struct {
	dir, stateDir, config string
	text                  string // the config as written
}

func newCheckSetup(t *testing.T) *checkSetup {
	t.Helper()
	dir := t.TempDir()
	s := &checkSetup{dir: dir, stateDir: filepath.Join(dir, "state"), config: filepath.Join(dir, "gateway.yaml")}
	if _, _, err := config.LoadOrCreateSecret(filepath.Join(s.stateDir, config.DefaultSecretFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.stateDir, "redis.password"), []byte("fleet-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := labca.New("check test Redis CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteFile(filepath.Join(dir, "redis-ca.pem")); err != nil {
		t.Fatal(err)
	}
	www := filepath.Join(dir, "www")
	if err := os.Mkdir(www, 0o755); err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("../../config/testdata/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.text = strings.NewReplacer("state_dir: /var/lib/umbrella", "state_dir: "+s.stateDir, "dir: /srv/www", "dir: "+www).Replace(string(base))
	// Without the shipped acme: section, whose domain is the utls listener's: the
	// cases below break that listener, and a domain left without its listener is a
	// problem of the config's own (config's tests hold it), which stops the check
	// before the listeners and files these cases are about.
	for _, l := range []string{"acme:", "  domains: [www.example.com]", "  email: ops@example.com"} {
		s.edit(t, l, "")
	}
	return s
}

// edit replaces the one line holding old with new ("" deletes it).
func (s *checkSetup) edit(t *testing.T, old, new string) {
	t.Helper()
	lines := strings.Split(s.text, "\n")
	found := -1
	for i, l := range lines {
		if strings.Contains(l, old) {
			if found >= 0 {
				t.Fatalf("%q is on lines %d and %d of the config", old, found+1, i+1)
			}
			found = i
		}
	}
	if found < 0 {
		t.Fatalf("%q is on no line of the config", old)
	}
	if new == "" {
		lines = append(lines[:found], lines[found+1:]...)
	} else {
		lines[found] = strings.Replace(lines[found], old, new, 1)
	}
	s.text = strings.Join(lines, "\n")
}

// lineOf is the number of the one line of the config holding text.
func (s *checkSetup) lineOf(t *testing.T, text string) int {
	t.Helper()
	for i, l := range strings.Split(s.text, "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%q is on no line of the config:\n%s", text, s.text)
	return 0
}

// check writes the config (mode 0600 unless mode says otherwise) and runs gateway
// --check on it.
func (s *checkSetup) check(t *testing.T, mode os.FileMode) (stdout, stderr string, err error) {
	t.Helper()
	if err := os.WriteFile(s.config, []byte(s.text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.config, mode); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = run(t.Context(), []string{"gateway", "--check", "--config", s.config}, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestCheckPassesTheShippedConfigAndStartsNothing(t *testing.T) {
	s := newCheckSetup(t)
	out, errOut, err := s.check(t, 0o600)
	if err != nil {
		t.Fatalf("gateway --check refused config/testdata/gateway.yaml: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, ": ok: 2 listeners (utls, tcp), 2 services") {
		t.Errorf("gateway --check printed %q, want the ok line", out)
	}
	left, _ := os.ReadDir(s.stateDir)
	if len(left) != 2 || left[0].Name() != "redis.password" || left[1].Name() != config.DefaultSecretFile {
		t.Errorf("the state directory holds %v after --check; it must make nothing (no identity.key, no link.key, no listener state)", left)
	}
}

// Each broken field of a variant of config/testdata/gateway.yaml is named with the
// config's file and the field's line, as nginx -t names them.
func TestCheckNamesEachBrokenFieldWithItsLine(t *testing.T) {
	ca, err := labca.New("check test CA")
	if err != nil {
		t.Fatal(err)
	}
	inline := bridge.EncodeKey(bytes.Repeat([]byte{7}, 32))
	tests := []struct {
		name      string
		break_    func(t *testing.T, s *checkSetup)
		mode      os.FileMode // of the config file; 0 means 0600
		wantLine  string      // text on the line the message must name
		wantField string
	}{
		{name: "unknown transport", wantLine: "transport: utsl", wantField: "listeners[0].transport",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "transport: utls", "transport: utsl") }},
		{name: "listen address without port", wantLine: "listen: 0.0.0.0", wantField: "listeners[0].listen",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "listen: 0.0.0.0:443", "listen: 0.0.0.0") }},
		{name: "wildcard listener without public", wantLine: "- transport: utls", wantField: "listeners[0].public",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "public: 203.0.113.5:443", "") }},
		{name: "public address without port", wantLine: `public: "[2001:db8::5]"`, wantField: "listeners[1].public",
			break_: func(t *testing.T, s *checkSetup) {
				s.edit(t, `public: "[2001:db8::5]:8443"`, `public: "[2001:db8::5]"`)
			}},
		{name: "IP as TLS server name", wantLine: "servername: 192.0.2.1", wantField: "listeners[0].args.servername",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "servername: www.example.com", "servername: 192.0.2.1") }},
		{name: "argument the transport does not know", wantLine: "sni: x", wantField: "listeners[0].args.sni",
			break_: func(t *testing.T, s *checkSetup) {
				s.edit(t, "args: {servername: www.example.com}", "args: {servername: www.example.com,\n      sni: x}")
			}},
		{name: "TLS key others can read", wantLine: "key: ", wantField: "listeners[0].args.key",
			break_: func(t *testing.T, s *checkSetup) {
				cert, key, err := ca.WriteKeyPair(filepath.Join(s.dir, "tls"), "www.example.com")
				if err != nil {
					t.Fatal(err)
				}
				os.Chmod(key, 0o640)
				s.edit(t, "args: {servername: www.example.com}", fmt.Sprintf("args:\n      cert: %s\n      key: %s", cert, key))
			}},
		{name: "self-signed key in the state others can read", wantLine: "- transport: utls", wantField: "listeners[0]",
			break_: func(t *testing.T, s *checkSetup) {
				dir := filepath.Join(s.stateDir, "listeners", "utls-0.0.0.0_443")
				cert, key, err := ca.WriteKeyPair(dir, "www.example.com")
				if err != nil {
					t.Fatal(err)
				}
				os.Rename(cert, filepath.Join(dir, "tls-cert.pem"))
				os.Rename(key, filepath.Join(dir, "tls-key.pem"))
				os.Chmod(filepath.Join(dir, "tls-key.pem"), 0o644)
			}},
		{name: "backend without port", wantLine: "mls: 127.0.0.1", wantField: "services.mls",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "mls: 127.0.0.1:7000", "mls: 127.0.0.1") }},
		{name: "admin on a public address", wantLine: "admin: 0.0.0.0:9090", wantField: "admin",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "admin: 127.0.0.1:9090", "admin: 0.0.0.0:9090") }},
		{name: "misspelt field", wantLine: "admn:", wantField: "admn",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "admin: 127.0.0.1:9090", "admn: 127.0.0.1:9090") }},
		{name: "duration without unit", wantLine: "handshake_timeout: 10 ", wantField: "limits.handshake_timeout",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "handshake_timeout: 10s", "handshake_timeout: 10") }},
		{name: "log level", wantLine: "level: loud", wantField: "log.level",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "level: info", "level: loud") }},
		{name: "secret file missing", wantLine: "- secret-2.key", wantField: "secrets[0]",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "- secret.key", "- secret-2.key") }},
		{name: "secret file others can read", wantLine: "- secret.key", wantField: "secrets[0]",
			break_: func(t *testing.T, s *checkSetup) {
				os.Chmod(filepath.Join(s.stateDir, config.DefaultSecretFile), 0o644)
			}},
		{name: "inline secret in a config others can read", mode: 0o644, wantLine: "- " + inline, wantField: "secrets[0]",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "- secret.key", "- "+inline) }},
		{name: "identity key others can read", wantLine: "state_dir:", wantField: "state_dir",
			break_: func(t *testing.T, s *checkSetup) {
				path := filepath.Join(s.stateDir, config.IdentityFile)
				if _, _, err := config.LoadOrCreateIdentity(path); err != nil {
					t.Fatal(err)
				}
				os.Chmod(path, 0o644)
			}},
		{name: "next identity key others can read", wantLine: "next: next.key", wantField: "identity.next",
			break_: func(t *testing.T, s *checkSetup) {
				path := filepath.Join(s.stateDir, "next.key")
				if _, _, err := config.LoadOrCreateIdentity(path); err != nil {
					t.Fatal(err)
				}
				os.Chmod(path, 0o644)
				s.edit(t, "admin: 127.0.0.1:9090", "admin: 127.0.0.1:9090\nidentity:\n  next: next.key\n  switch_at: 2027-01-10T00:00:00Z")
			}},
		{name: "rotation without a switch time", wantLine: "next: next.key", wantField: "identity.switch_at",
			break_: func(t *testing.T, s *checkSetup) {
				s.edit(t, "admin: 127.0.0.1:9090", "admin: 127.0.0.1:9090\nidentity:\n  next: next.key")
			}},
		{name: "switch time not a time", wantLine: "switch_at: next week", wantField: "identity.switch_at",
			break_: func(t *testing.T, s *checkSetup) {
				s.edit(t, "admin: 127.0.0.1:9090", "admin: 127.0.0.1:9090\nidentity: {next: next.key,\n  switch_at: next week}")
			}},
		{name: "next identity key is the key itself", wantLine: "next: identity.key", wantField: "identity.next",
			break_: func(t *testing.T, s *checkSetup) {
				s.edit(t, "admin: 127.0.0.1:9090", "admin: 127.0.0.1:9090\nidentity:\n  next: identity.key\n  switch_at: 2027-01-10T00:00:00Z")
			}},
		{name: "state directory others can write", wantLine: "state_dir:", wantField: "state_dir",
			break_: func(t *testing.T, s *checkSetup) { os.Chmod(s.stateDir, 0o777) }},
		{name: "fleet without the edge's name", wantLine: "link: 10.0.0.5:7443      #", wantField: "fleet.edge",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "edge: edge-a", "") }},
		{name: "Redis address without port", wantLine: "addr: 10.0.0.9", wantField: "fleet.redis.addr",
			break_: func(t *testing.T, s *checkSetup) { s.edit(t, "addr: 10.0.0.9:6379", "addr: 10.0.0.9") }},
		{name: "Redis password file missing", wantLine: "password_file:", wantField: "fleet.redis.password_file",
			break_: func(t *testing.T, s *checkSetup) { os.Remove(filepath.Join(s.stateDir, "redis.password")) }},
		{name: "Redis password file others can read", wantLine: "password_file:", wantField: "fleet.redis.password_file",
			break_: func(t *testing.T, s *checkSetup) { os.Chmod(filepath.Join(s.stateDir, "redis.password"), 0o644) }},
		{name: "Redis CA file missing", wantLine: "tls: {ca_file", wantField: "fleet.redis.tls",
			break_: func(t *testing.T, s *checkSetup) { os.Remove(filepath.Join(s.dir, "redis-ca.pem")) }},
		{name: "link key others can read", wantLine: "fleet:", wantField: "fleet",
			break_: func(t *testing.T, s *checkSetup) {
				path := filepath.Join(s.stateDir, config.LinkKeyFile)
				if _, _, err := config.LoadOrCreateLinkKey(path); err != nil {
					t.Fatal(err)
				}
				os.Chmod(path, 0o644)
			}},
		{name: "decoy directory missing", wantLine: "  dir: ", wantField: "decoy.dir",
			break_: func(t *testing.T, s *checkSetup) { os.Remove(filepath.Join(s.dir, "www")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newCheckSetup(t)
			tt.break_(t, s)
			mode := tt.mode
			if mode == 0 {
				mode = 0o600
			}
			out, errOut, err := s.check(t, mode)
			var ee cli.ExitError
			if !errors.As(err, &ee) || ee.Code != checkExitInvalid {
				t.Fatalf("gateway --check: %v (stdout %q); want exit %d", err, out, checkExitInvalid)
			}
			want := fmt.Sprintf("%s:%d: %s: ", s.config, s.lineOf(t, tt.wantLine), tt.wantField)
			if !strings.Contains(errOut, want) {
				t.Errorf("gateway --check printed:\n%s\nwant a line starting %q", errOut, want)
			}
		})
	}
}

func TestCheckReportsEveryProblemAtOnce(t *testing.T) {
	s := newCheckSetup(t)
	s.edit(t, "servername: www.example.com", "servername: 192.0.2.1")
	s.edit(t, "- secret.key", "- secret-2.key")
	os.Remove(filepath.Join(s.dir, "www"))
	_, errOut, err := s.check(t, 0o600)
	if err == nil {
		t.Fatal("gateway --check passed a config with three problems")
	}
	for _, want := range []string{"listeners[0].args.servername", "secrets[0]", "decoy.dir"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("gateway --check printed:\n%s\nwith nothing on %s", errOut, want)
		}
	}
}
