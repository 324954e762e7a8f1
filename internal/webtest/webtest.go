// Package webtest sets up the real nginx fronts that the web transports' tests run
// behind, from the site configs shipped in docker/nginx, and probes fronts (over TLS,
// and HTTP/3 for quic) the way a censor's active prober would. It is for tests only.
package webtest

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/internal/nginxtest"
)

// testCA issues the fronts' certificates. It is made once per test binary and never
// changes after.
var testCA = sync.OnceValues(func() (*labca.CA, error) { return labca.New("Umbrella Edge test CA") })

func ca(t testing.TB) *labca.CA {
	t.Helper()
	c, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Certificate writes a certificate for name, issued by the CA whose pool Roots
// returns, and returns its files, as an operator's Let's Encrypt files would be
// (the chain, and the key mode 0600).
func Certificate(t testing.TB, name string) (cert, key string) {
	t.Helper()
	cert, key, err := ca(t).WriteKeyPair(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// Roots are the roots of a client of the fronts (the CA of Certificate's), to build
// the transports with, as a client's CA file would give them.
func Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	return ca(t).Pool()
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
