package config

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/session"
)

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestLoadOrCreateIdentityCreatesOnceWithPrivateModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested")
	path := filepath.Join(dir, "identity.key")
	key, created, err := LoadOrCreateIdentity(path)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v, want a new key", created, err)
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("key file mode %04o, want 0600", m)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("key directory mode %04o, want 0700", m)
	}
	again, created, err := LoadOrCreateIdentity(path)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v, want the existing key", created, err)
	}
	if !key.Equal(again) {
		t.Fatalf("second call returned another key")
	}
	msg := []byte("transcript")
	if !ed25519.Verify(key.Public().(ed25519.PublicKey), msg, ed25519.Sign(again, msg)) {
		t.Fatalf("loaded key does not sign for the created key's public key")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only identity.key (no temporary files)", len(entries))
	}
}

func TestLoadOrCreateSecretCreatesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	s, created, err := LoadOrCreateSecret(path)
	if err != nil || !created || s == (session.Secret{}) {
		t.Fatalf("first call: %x created=%v err=%v", s, created, err)
	}
	again, created, err := LoadOrCreateSecret(path)
	if err != nil || created || again != s {
		t.Fatalf("second call: %x created=%v err=%v, want %x", again, created, err, s)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\n"+bridge.EncodeKey(s[:])+"\n") || !strings.HasPrefix(string(data), "# ") {
		t.Fatalf("secret file is not a comment and one base64url line:\n%s", data)
	}
}

// Two gateways starting at once on one state directory must end up with one key.
func TestLoadOrCreateIdentityConcurrentCallsAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	const n = 8
	keys := make([]ed25519.PrivateKey, n)
	var created [n]bool
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			keys[i], created[i], err = LoadOrCreateIdentity(path)
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if created[i] {
			creators++
		}
		if !keys[i].Equal(keys[0]) {
			t.Fatalf("call %d got another key than call 0", i)
		}
	}
	if creators != 1 {
		t.Fatalf("%d calls say they created the key, want 1", creators)
	}
}

func TestKeyFilesReadableByOthersAreRefused(t *testing.T) {
	for _, perm := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
		path := filepath.Join(t.TempDir(), "identity.key")
		if _, _, err := LoadOrCreateIdentity(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, perm); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateIdentity(path)
		if !errors.Is(err, ErrKeyFileMode) {
			t.Fatalf("mode %04o: error %v, want ErrKeyFileMode", perm, err)
		}
		if !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Fatalf("mode %04o: error %q does not say how to fix it", perm, err)
		}
		if _, _, err := LoadOrCreateSecret(path); !errors.Is(err, ErrKeyFileMode) {
			t.Fatalf("mode %04o: secret: error %v, want ErrKeyFileMode", perm, err)
		}
	}
}

func TestMalformedKeyFilesAreErrors(t *testing.T) {
	key := bridge.EncodeKey(bytes.Repeat([]byte{7}, 32))
	tests := []struct {
		name, content, want string
	}{
		{"empty", "", "no key line"},
		{"only comments", "# nothing here\n", "no key line"},
		{"two keys", key + "\n" + key + "\n", "more than one key line"},
		{"short key", bridge.EncodeKey(make([]byte, 16)) + "\n", "want 32 bytes of base64url, got 16"},
		{"a 64-byte private key", bridge.EncodeKey(make([]byte, 64)) + "\n", "want 32 bytes of base64url, got 64"},
		{"PEM", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n", "more than one key line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateIdentity(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and saying %q", err, path, tt.want)
			}
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Fatalf("a malformed key file was overwritten")
			}
		})
	}
}

func TestKeyFileAcceptsCommentsAndBlankLines(t *testing.T) {
	seed := bytes.Repeat([]byte{9}, 32)
	path := filepath.Join(t.TempDir(), "identity.key")
	content := "# written by hand\n\n  " + bridge.EncodeKey(seed) + "  \n\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	key, created, err := LoadOrCreateIdentity(path)
	if err != nil || created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	if !bytes.Equal(key.Seed(), seed) {
		t.Fatalf("seed %x, want %x", key.Seed(), seed)
	}
}

func TestKeyPathThatIsADirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateSecret(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("error %v, want not a regular file", err)
	}
}

func TestGenerateSecretIsRandom(t *testing.T) {
	a, b := GenerateSecret(), GenerateSecret()
	if a == b || a == (session.Secret{}) {
		t.Fatalf("two generated secrets: %x %x", a, b)
	}
}

func TestResolveSecrets(t *testing.T) {
	dir := t.TempDir()
	onDisk, _, err := LoadOrCreateSecret(filepath.Join(dir, "old.key"))
	if err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(t.TempDir(), "abs.key")
	absSecret, _, err := LoadOrCreateSecret(abs)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseGateway("gateway.yaml", []byte(strings.Replace(minimalGateway, "/var/lib/umbrella", dir, 1)+
		"secrets:\n  - "+secretB64+"\n  - old.key\n  - "+abs+"\n"), known)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ResolveSecrets(g)
	if err != nil {
		t.Fatal(err)
	}
	want := []session.Secret{testSecret, onDisk, absSecret}
	if len(got) != len(want) {
		t.Fatalf("got %d secrets, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("secrets[%d] = %x, want %x (config order)", i, got[i], want[i])
		}
	}
}

func TestResolveSecretsGeneratesTheDefaultOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	g, err := ParseGateway("gateway.yaml", []byte(strings.Replace(minimalGateway, "/var/lib/umbrella", dir, 1)), known)
	if err != nil {
		t.Fatal(err)
	}
	first, err := ResolveSecrets(g)
	if err != nil || len(first) != 1 {
		t.Fatalf("%d secrets, err %v; want one generated", len(first), err)
	}
	if m := mode(t, filepath.Join(dir, DefaultSecretFile)); m != 0o600 {
		t.Errorf("generated secret file mode %04o", m)
	}
	again, err := ResolveSecrets(g)
	if err != nil || again[0] != first[0] {
		t.Fatalf("second start: %x, %v; want the same secret %x", again, err, first[0])
	}
}

func TestResolveSecretsErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dup.key"), []byte(secretB64+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, secrets, want string
	}{
		{"missing file is not created", "secrets:\n  - secret.key\n  - new.key\n",
			"gateway.yaml:6: secrets[0]: read key file: open " + filepath.Join(dir, "secret.key") + ": no such file or directory"},
		{"same secret inline and in a file", "secrets: [" + secretB64 + ", dup.key]\n",
			"gateway.yaml:5: secrets[1]: same secret as secrets[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := ParseGateway("gateway.yaml", []byte(strings.Replace(minimalGateway, "/var/lib/umbrella", dir, 1)+tt.secrets), known)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ResolveSecrets(g)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v\nwant %s", err, tt.want)
			}
			for _, name := range []string{"secret.key", "new.key"} {
				if _, statErr := os.Stat(filepath.Join(dir, name)); statErr == nil {
					t.Fatalf("listed secret file %s did not exist and was created", name)
				}
			}
		})
	}
}

func TestLoadGatewayRefusesInlineSecretsOthersCanRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	data := minimalGateway + "secrets: [" + secretB64 + "]\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadGateway(path, known)
	want := path + ":5: secrets[0]: inline secret in a file of mode 0644: key file readable by other users; run: chmod 600 " +
		path + ", or keep the secret in a file in state_dir"
	if !errors.Is(err, ErrKeyFileMode) || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGateway(path, known); err != nil {
		t.Fatalf("mode 0600: %v", err)
	}
	// Secrets kept in files leave the config itself free to be world-readable.
	if err := os.WriteFile(path, []byte(minimalGateway+"secrets: [a.key]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGateway(path, known); err != nil {
		t.Fatalf("file secrets in a 0644 config: %v", err)
	}
}
