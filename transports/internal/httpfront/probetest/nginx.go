package probetest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// Nginx starts Debian's nginx serving a small site over TLS for serverName, set up as
// the configs shipped in docker/nginx set up a site (TLS 1.2 and 1.3, HTTP/1.1, no
// version in Server), and returns its address. It stops when the test ends.
func Nginx(t *testing.T, serverName string) string {
	t.Helper()
	addr := nginxtest.FreeAddr(t, "127.0.0.1")
	dir := t.TempDir()
	// The same kind of certificate as the gateway's (self-signed ECDSA): OpenSSL's
	// refusals of some hellos depend on the key.
	if _, _, err := tlskit.ServerConfig(transports.Args{"servername": serverName}, dir, nil); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "tls-cert.pem"), filepath.Join(dir, "tls-key.pem")
	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte("<!doctype html><title>A site</title>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nginxtest.Start(t, `server {
		listen `+addr+` ssl;
		server_name `+serverName+`;
		server_tokens off;
		ssl_certificate `+cert+`;
		ssl_certificate_key `+key+`;
		ssl_protocols TLSv1.2 TLSv1.3;
		root `+site+`;
		index index.html;
	}`, addr)
	return addr
}

// parallel bounds the probes in flight: most of them wait for a timeout, and the
// machine's cores are shared.
const parallel = 128

// ReactAll sends every probe to every address and returns the reactions, by address
// then probe. Probes run concurrently, each on its own connection.
func ReactAll(ctx context.Context, addrs []string, probes []Probe, wait time.Duration) [][]Reaction {
	out := make([][]Reaction, len(addrs))
	for i := range out {
		out[i] = make([]Reaction, len(probes))
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, addr := range addrs {
		for j, p := range probes {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				out[i][j] = React(ctx, addr, p.Payload, wait)
			})
		}
	}
	wg.Wait()
	return out
}
