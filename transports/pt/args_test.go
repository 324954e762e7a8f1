package pt

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// fakeProgram writes a shell script that plays a PT program and returns its path.
func fakeProgram(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-pt")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewDialerRejectsBadBridgeLines(t *testing.T) {
	fake := fakeProgram(t, "exit 1\n")
	tr := New(Config{Binaries: map[string]string{"obfs4": fake}})
	defer tr.Close()
	tests := []struct {
		name    string
		addr    string
		args    transports.Args
		wantKey string // the ArgError's key, if the fault is an argument
		wantErr error
	}{
		{name: "missing method", addr: "192.0.2.1:443", args: transports.Args{"cert": "x"}, wantKey: "method"},
		{name: "method that is a path", addr: "192.0.2.1:443", args: transports.Args{"method": "/bin/sh"}, wantKey: "method"},
		{name: "method with a space", addr: "192.0.2.1:443", args: transports.Args{"method": "obfs4 -x"}, wantKey: "method"},
		{name: "method no program serves", addr: "192.0.2.1:443", args: transports.Args{"method": "sh"}, wantErr: ErrNoProgram},
		{name: "arguments too long for SOCKS", addr: "192.0.2.1:443", args: transports.Args{"method": "obfs4", "cert": strings.Repeat("A", 600)}},
		{name: "missing port", addr: "192.0.2.1", args: transports.Args{"method": "obfs4"}},
		{name: "port zero", addr: "192.0.2.1:0", args: transports.Args{"method": "obfs4"}},
		{name: "colon in host", addr: "[:]:443", args: transports.Args{"method": "obfs4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tr.NewDialer(tt.addr, tt.args)
			if err == nil {
				t.Fatalf("NewDialer(%q, %v) = %v, want an error", tt.addr, tt.args, d)
			}
			var ae *transports.ArgError
			if tt.wantKey != "" && (!errors.As(err, &ae) || ae.Key != tt.wantKey) {
				t.Errorf("NewDialer(%v): got %v, want an ArgError for %q", tt.args, err, tt.wantKey)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("NewDialer(%v): got %v, want %v", tt.args, err, tt.wantErr)
			}
		})
	}
}

// TestBridgeLineCannotRunAProgram: a bridge line comes from strangers (a QR code), so
// nothing in it may choose what runs. Only method= selects, among programs the local
// config or the known defaults name, and the rest reaches the program only over SOCKS.
func TestBridgeLineCannotRunAProgram(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "ran")
	fake := fakeProgram(t, `{ echo "argv: $*"; env; } > `+record+`
echo "ENV-ERROR recorded"
`)
	tr := New(Config{Binaries: map[string]string{"obfs4": fake}, StateDir: dir})
	defer tr.Close()

	for _, method := range []string{"sh", "touch", "bash"} { // in PATH, but no PT method
		if _, err := tr.NewDialer("192.0.2.1:443", transports.Args{"method": method}); !errors.Is(err, ErrNoProgram) {
			t.Errorf("method=%s: got %v, want ErrNoProgram", method, err)
		}
	}

	secret := "s3cr3t-bridge-arg"
	d, err := tr.NewDialer("192.0.2.1:443", transports.Args{
		"method": "obfs4", "cert": secret, "exec": "/usr/bin/touch " + filepath.Join(dir, "pwned"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.Dial(ctx); err == nil || !strings.Contains(err.Error(), "ENV-ERROR recorded") {
		t.Fatalf("Dial: got %v, want the program's ENV-ERROR", err)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the configured program did not run: %v", err)
	}
	env := string(got)
	for _, want := range []string{
		"argv: \n",
		"TOR_PT_MANAGED_TRANSPORT_VER=1\n",
		"TOR_PT_CLIENT_TRANSPORTS=obfs4\n",
		"TOR_PT_EXIT_ON_STDIN_CLOSE=1\n",
		"TOR_PT_STATE_LOCATION=" + filepath.Join(dir, "client-obfs4") + "\n",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("the program's argv and environment lack %q:\n%s", want, env)
		}
	}
	if strings.Contains(env, secret) || strings.Contains(env, "touch") {
		t.Errorf("bridge arguments reached the program's argv or environment:\n%s", env)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("an argument of the bridge line ran a command")
	}
}

func TestServerProgramGetsThePTEnvironment(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "env")
	fake := fakeProgram(t, "env > "+record+"\necho 'SMETHOD-ERROR obfs4 recorded'\n")
	tr := New(Config{Binaries: map[string]string{"obfs4": fake}})
	defer tr.Close()
	ln, err := tr.Listen(context.Background(), transports.ListenConfig{
		Addr: "127.0.0.1:0", StateDir: dir,
		Args: transports.Args{"method": "obfs4", "iat-mode": "1"},
	})
	if err == nil {
		ln.Close()
		t.Fatal("Listen succeeded though the program failed")
	}
	if !strings.Contains(err.Error(), "SMETHOD-ERROR obfs4: recorded") {
		t.Errorf("Listen: got %v, want the program's SMETHOD-ERROR", err)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	env := string(got)
	for _, want := range []string{
		"TOR_PT_MANAGED_TRANSPORT_VER=1\n",
		"TOR_PT_SERVER_TRANSPORTS=obfs4\n",
		"TOR_PT_SERVER_BINDADDR=obfs4-127.0.0.1:0\n",
		"TOR_PT_ORPORT=127.0.0.1:",
		"TOR_PT_SERVER_TRANSPORT_OPTIONS=obfs4:iat-mode=1\n",
		"TOR_PT_EXIT_ON_STDIN_CLOSE=1\n",
		"TOR_PT_STATE_LOCATION=" + filepath.Join(dir, "server-obfs4") + "\n",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("the server program's environment lacks %q:\n%s", want, env)
		}
	}
}

func TestListenRejectsBadArguments(t *testing.T) {
	tr := New(Config{Binaries: map[string]string{"obfs4": fakeProgram(t, "exit 1\n")}})
	defer tr.Close()
	for _, tc := range []struct {
		addr string
		args transports.Args
	}{
		{"127.0.0.1:0", transports.Args{}},
		{"127.0.0.1:0", transports.Args{"method": "a/b"}},
		{"localhost:0", transports.Args{"method": "obfs4"}}, // PT programs bind IP addresses
		{"127.0.0.1", transports.Args{"method": "obfs4"}},
	} {
		if ln, err := tr.Listen(context.Background(), transports.ListenConfig{Addr: tc.addr, Args: tc.args}); err == nil {
			ln.Close()
			t.Errorf("Listen(%q, %v) succeeded", tc.addr, tc.args)
		}
	}
}

// TestStartFailuresAreReported: what a program says (or fails to say) while starting
// reaches the caller, and the program does not outlive the failed start.
func TestStartFailuresAreReported(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"version error", "echo 'VERSION-ERROR no-version'\nexec sleep 60\n", "VERSION-ERROR no-version"},
		{"other version", "echo 'VERSION 2'\nexec sleep 60\n", `version "2"`},
		{"method error", "echo 'VERSION 1'\necho 'CMETHOD-ERROR obfs4 no such method'\nexec sleep 60\n", "CMETHOD-ERROR obfs4: no such method"},
		{"exits", "echo 'VERSION 1'\nexit 3\n", "exit status 3"},
		{"silent", "exec sleep 60\n", "timed out"},
		{"done without the method", "echo 'VERSION 1'\necho 'CMETHOD meek_lite socks5 127.0.0.1:9'\necho 'CMETHODS DONE'\nexec sleep 60\n", "no CMETHOD obfs4"},
		{"malformed line", "echo 'CMETHOD obfs4 socks5 nowhere'\nexec sleep 60\n", "bad line"},
		{"not executable", "", "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog := fakeProgram(t, tt.script)
			if tt.script == "" {
				os.Chmod(prog, 0o600)
			}
			timeout := 30 * time.Second // only prevents a hang: a loaded machine starts sh slowly
			if tt.name == "silent" {
				timeout = time.Second
			}
			tr := New(Config{Binaries: map[string]string{"obfs4": prog}, StartTimeout: timeout})
			defer tr.Close()
			d, err := tr.NewDialer("192.0.2.1:443", transports.Args{"method": "obfs4"})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = d.Dial(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Dial: got %v, want an error saying %q", err, tt.want)
			}
			if out, _ := exec.Command("pgrep", "-f", prog).Output(); len(out) > 0 {
				t.Errorf("the program still runs after its failed start: pids %s", out)
			}
		})
	}
}

// FuzzBridgeArgs feeds arbitrary method names and arguments to NewDialer: it never
// panics, never accepts a method it has no program for, and names what it refuses.
func FuzzBridgeArgs(f *testing.F) {
	f.Add("obfs4", "cert", "AAAA", "iat-mode", "0")
	f.Add("../../bin/sh", "k", "v", "", "")
	f.Add("meek_lite", "url", "https://example.com/", "front", "www.example.org")
	f.Add("obfs4", "", "x", "a=b", `c;d\`)
	tr := New(Config{Binaries: map[string]string{"obfs4": "/nonexistent/obfs4", "meek_lite": "/nonexistent/meek"}})
	defer tr.Close()
	f.Fuzz(func(t *testing.T, method, k1, v1, k2, v2 string) {
		args := transports.Args{"method": method, k1: v1, k2: v2}
		d, err := tr.NewDialer("192.0.2.1:443", args)
		if err != nil {
			return
		}
		m, program := args["method"], d.(*dialer).program
		if p, ok := tr.cfg.Binaries[m]; ok {
			if program != p {
				t.Fatalf("method %q runs %q, not the %q configured", m, program, p)
			}
			return
		}
		for _, name := range defaultPrograms[m] {
			if filepath.Base(program) == name {
				return
			}
		}
		t.Fatalf("method %q runs %q, which neither the config nor the defaults name", m, program)
	})
}
