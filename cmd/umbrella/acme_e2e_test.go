package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/internal/pebbletest"
	"github.com/umbrella-edge/edge/transports/trust"
)

// TestGatewayServesACMECertificate runs a gateway whose acme: section names its utls
// listener's server name, against Let's Encrypt's test CA (Pebble) on loopback: the
// gateway gets a certificate through the listener itself (tls-alpn-01), prints a bridge
// line without pin=, and a client that trusts Pebble's root through its ca_file:
// reaches the backend through it.
func TestGatewayServesACMECertificate(t *testing.T) {
	bin := buildBinary(t)
	echoAddr := startEcho(t)
	listen := freePort(t)
	_, port, _ := net.SplitHostPort(listen)
	tlsPort, _ := strconv.Atoi(port)
	pebble := pebbletest.Start(t, pebbletest.Options{TLSPort: tlsPort})

	dir := t.TempDir()
	stateDir, cfg := filepath.Join(dir, "state"), filepath.Join(dir, "gateway.yaml")
	yaml := fmt.Sprintf(`state_dir: %s
listeners:
  - transport: utls
    listen: %s
    args: {servername: www.example.com}
services:
  echo: %s
acme:
  domains: [www.example.com]
  email: ops@example.com
  directory: %s
  ca_file: %s
`, stateDir, listen, echoAddr, pebble.Directory, pebble.APIRootsFile)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := start(t, bin, "gateway", "--config", cfg)
	gw.await(t, "the certificate from Pebble", func() error {
		if !strings.Contains(gw.out.String(), `msg="certificate issued"`) {
			return errors.New("not issued yet")
		}
		return nil
	})
	out, err := exec.Command(bin, "bridges", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("umbrella bridges: %v", err)
	}
	line := strings.TrimSpace(string(out))
	if strings.Contains(line, trust.PinArg+"=") {
		t.Fatalf("the line of an ACME certificate carries a pin: %s", line)
	}

	caFile := filepath.Join(dir, "pebble-root.pem")
	if err := os.WriteFile(caFile, pebble.IssuerRoot, 0o644); err != nil {
		t.Fatal(err)
	}
	forward := freePort(t)
	clientCfg := filepath.Join(dir, "client.yaml")
	conf := fmt.Sprintf("bridges:\n  - %s\nforwards: {%q: echo}\nca_file: %s\n", line, forward, caFile)
	if err := os.WriteFile(clientCfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	client := start(t, bin, "client", "--config", clientCfg)
	client.awaitPort(t, "the client's forward port", forward)
	conn, err := net.Dial("tcp", forward)
	if err != nil {
		t.Fatal(err)
	}
	echoTransfer(t, conn, 1<<20)
}
