package nginxtest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartServesASite(t *testing.T) {
	addr := FreeAddr(t, "127.0.0.1")
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("hello from nginx"), 0o644); err != nil {
		t.Fatal(err)
	}
	Start(t, "server { listen "+addr+"; root "+root+"; }", addr)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "hello from nginx" || !strings.HasPrefix(resp.Header.Get("Server"), "nginx") {
		t.Fatalf("got %q with Server %q, want the page from nginx", body, resp.Header.Get("Server"))
	}
}

func TestRender(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.conf")
	if err := os.WriteFile(path, []byte("listen ${LISTEN}; proxy_pass http://${GATEWAY};"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Render(path, map[string]string{"LISTEN": "127.0.0.1:8443", "GATEWAY": "127.0.0.2:9000"})
	if err != nil || got != "listen 127.0.0.1:8443; proxy_pass http://127.0.0.2:9000;" {
		t.Fatalf("Render = %q, %v", got, err)
	}
	if _, err := Render(path, map[string]string{"LISTEN": "x"}); err == nil || !strings.Contains(err.Error(), "GATEWAY") {
		t.Fatalf("Render with a missing value = %v, want an error naming GATEWAY", err)
	}
}
