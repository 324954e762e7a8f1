package statefile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCreateNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "key")
	created, err := Create(path, []byte("first"))
	if err != nil || !created {
		t.Fatalf("Create = %v, %v; want a new file", created, err)
	}
	created, err = Create(path, []byte("second"))
	if err != nil || created {
		t.Fatalf("second Create = %v, %v; want the existing file kept", created, err)
	}
	checkFile(t, path, "first")
}

func TestReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	for _, content := range []string{"one", "two"} {
		if err := Replace(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, content)
	}
}

// checkFile checks content and mode, and that no temporary file is left beside it.
func checkFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != want {
		t.Fatalf("%s holds %q (%v), want %q", path, b, err, want)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s is mode %v, want 0600", path, fi.Mode().Perm())
	}
	if dir, _ := os.Stat(filepath.Dir(path)); dir.Mode().Perm() != 0o700 && filepath.Base(filepath.Dir(path)) == "new" {
		t.Fatalf("directory made with mode %v, want 0700", dir.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files, want only %s", len(entries), filepath.Base(path))
	}
}
