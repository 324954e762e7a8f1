package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/internal/unboundtest"
)

// TestDNSThroughDoH runs `umbrella gateway` with a dns listener from its config, Debian's
// unbound as the recursive resolver for the listener's zone, serving DoH with a
// certificate of a private CA, and `umbrella client` with the printed line and doh=: the
// client reaches the gateway through the resolver once its ca_file names the CA, and
// says the resolver's certificate was refused without it.
func TestDNSThroughDoH(t *testing.T) {
	const domain, resolverName = "t.example.org", "resolver.example"
	bin := buildBinary(t)
	echoAddr := startEcho(t)
	dir := t.TempDir()
	ca, err := labca.New("Private CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.WriteKeyPair(filepath.Join(dir, "tls"), resolverName)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := ca.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	addrs, err := unboundtest.FreeAddrs("127.0.0.1", "both", "both", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	listen, resolver, doh := addrs[0], addrs[1], addrs[2]
	stateDir, cfg := filepath.Join(dir, "state"), filepath.Join(dir, "gateway.yaml")
	yaml := fmt.Sprintf("state_dir: %s\nlisteners:\n  - transport: dns\n    listen: %s\n    public: %s\n    args: {domain: %s}\nservices:\n  echo: %s\n",
		stateDir, listen, resolver, domain, echoAddr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := start(t, bin, "gateway", "--config", cfg)
	gw.await(t, "the gateway's bridge lines", fileExists(filepath.Join(stateDir, bridgesFile)))
	unboundtest.Start(t, unboundtest.Config{Listen: resolver, HTTPS: doh, CertFile: cert, KeyFile: key,
		Stubs: map[string]string{domain: listen}})
	out, err := exec.Command(bin, "bridges", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("umbrella bridges: %v", err)
	}
	line := strings.TrimSpace(string(out))
	if !strings.HasPrefix(line, "dns "+resolver+" ") || !strings.Contains(line, "domain="+domain) {
		t.Fatalf("the gateway's line %q does not name the resolver %s and the domain %s", line, resolver, domain)
	}
	_, port, _ := net.SplitHostPort(doh)
	line += fmt.Sprintf(" doh=https://%s:%s%s", resolverName, port, unboundtest.DoHPath)

	for _, tt := range []struct {
		name, caFile string
	}{{"without ca_file", ""}, {"with ca_file", caFile}} {
		t.Run(tt.name, func(t *testing.T) {
			forward := freePort(t)
			conf := fmt.Sprintf("bridges:\n  - %s\nforwards: {%q: echo}\n", line, forward)
			if tt.caFile != "" {
				conf += "ca_file: " + tt.caFile + "\n"
			}
			clientCfg := filepath.Join(t.TempDir(), "client.yaml")
			if err := os.WriteFile(clientCfg, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			client := start(t, bin, "client", "--config", clientCfg)
			client.awaitPort(t, "the client's forward port", forward)
			conn, err := net.Dial("tcp", forward)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tt.caFile == "" {
				client.await(t, "the client to report the refused certificate", func() error {
					if !strings.Contains(client.out.String(), "certificate refused for "+resolverName+": unknown authority") {
						return errors.New("not yet")
					}
					return nil
				})
				return
			}
			echoTransfer(t, conn, 256<<10)
		})
	}
}
