package quicobfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/transports"
)

func TestKeyIsKeptInTheStateDirectory(t *testing.T) {
	dir := t.TempDir()
	ln := listenLoopback(t, dir)
	first := ln.BridgeArgs()[argCert]
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatalf("no key file after Listen: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v; want 0600", fi.Mode().Perm())
	}
	ln.Close()
	if again := listenLoopback(t, dir).BridgeArgs()[argCert]; again != first {
		t.Fatal("a restarted listener on the same state directory printed another key")
	}
	if other := listenLoopback(t, "").BridgeArgs()[argCert]; other == first {
		t.Fatal("a listener without a state directory printed the stored key")
	}
}

func TestBadKeyFilesAreRefused(t *testing.T) {
	tests := []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"readable by others", "# key\n" + EncodeKey(newKey()) + "\n", 0o644, "chmod 600"},
		{"not base64url", "# key\nnot a key!\n", 0o600, "delete the file"},
		{"too short", EncodeKey(make([]byte, 16)) + "\n", 0o600, "want 32 bytes"},
		{"empty", "# nothing\n", 0o600, "holds no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, keyFile)
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode)
			cfg := transports.ListenConfig{Addr: "127.0.0.1:0", StateDir: dir}
			_, err := New().Listen(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Listen with a key file that is %s: %v; want an error saying %q", tt.name, err, tt.want)
			}
			err = New().(transports.ListenChecker).CheckListen(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckListen with a key file that is %s: %v; want an error saying %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestNewDialerNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name string
		addr string
		args transports.Args
		key  string // the argument the error names; "" for the address
	}{
		{"no key", "192.0.2.1:443", transports.Args{}, argCert},
		{"key not base64url", "192.0.2.1:443", transports.Args{argCert: "!!!"}, argCert},
		{"key too short", "192.0.2.1:443", transports.Args{argCert: EncodeKey(make([]byte, 31))}, argCert},
		{"unknown argument", "192.0.2.1:443", transports.Args{argCert: EncodeKey(newKey()), "servername": "a.example"}, "servername"},
		{"no port", "192.0.2.1", transports.Args{argCert: EncodeKey(newKey())}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New().NewDialer(tt.addr, tt.args)
			var ae *transports.ArgError
			switch {
			case err == nil:
				t.Fatal("NewDialer accepted it")
			case tt.key == "" && !strings.Contains(err.Error(), "bridge address"):
				t.Fatalf("NewDialer: %v; want an error about the address", err)
			case tt.key != "" && (!errors.As(err, &ae) || ae.Key != tt.key):
				t.Fatalf("NewDialer: %v; want an ArgError for %s=", err, tt.key)
			}
		})
	}
	if _, err := New().Listen(t.Context(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: transports.Args{argCert: "x"}}); err == nil {
		t.Fatal("Listen took a cert= argument; the key is the state directory's")
	}
}
