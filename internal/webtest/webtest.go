// Package webtest sets up the real nginx fronts that the web transports' tests run
// behind, from the site configs shipped in docker/nginx, and probes fronts (over TLS,
// and HTTP/3 for quic) the way a censor's active prober would. It is for tests only.
package webtest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/utls"
)

// Certificate writes a self-signed certificate for name and returns its files, as an
// operator's Let's Encrypt files would be (the key mode 0600).
func Certificate(t testing.TB, name string) (cert, key string) {
	t.Helper()
	dir := t.TempDir()
	if _, _, err := utls.ServerTLSConfig(transports.Args{"servername": name}, dir); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "tls-cert.pem"), filepath.Join(dir, "tls-key.pem")
}

// Site writes a small website and returns its root: what nginx serves to everyone who
// is not a client, and what a gateway that is its own front serves as its decoy.
func Site(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index.html": "<!doctype html>\n<html><head><title>Hollow Pine Pottery</title></head>\n<body><h1>Hollow Pine Pottery</h1><p>Hand-thrown stoneware, fired on Thursdays.</p></body></html>\n",
		"about.html": "<!doctype html>\n<html><head><title>About</title></head><body><p>A small studio.</p></body></html>\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Config returns the path of a site config shipped in docker/nginx.
func Config(t testing.TB, name string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	// this file is internal/webtest/webtest.go
	return filepath.Join(filepath.Dir(file), "..", "..", "docker", "nginx", name)
}

// StartNginx renders the shipped config name with vars and runs nginx with it,
// waiting for it on waitAddr.
func StartNginx(t testing.TB, name string, vars map[string]string, waitAddr string) *nginxtest.Nginx {
	t.Helper()
	conf, err := nginxtest.Render(Config(t, name), vars)
	if err != nil {
		t.Fatal(err)
	}
	return nginxtest.Start(t, conf, waitAddr)
}
