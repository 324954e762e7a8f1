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
	"github.com/umbrella-edge/edge/transports/trust"
)

// TestClientTrustsItsCAFile runs a gateway whose utls listener has a certificate from a
// private CA (as from an operator's own CA, or an ACME test server): its bridge line
// carries no pin=, and a client reaches it only once its config names the CA in
// ca_file:. Without it, the client says the certificate was refused.
func TestClientTrustsItsCAFile(t *testing.T) {
	bin := buildBinary(t)
	echoAddr := startEcho(t)
	dir := t.TempDir()
	ca, err := labca.New("Private CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.WriteKeyPair(filepath.Join(dir, "tls"), "www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := ca.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	stateDir, cfg, listen := filepath.Join(dir, "state"), filepath.Join(dir, "gateway.yaml"), freePort(t)
	yaml := fmt.Sprintf("state_dir: %s\nlisteners:\n  - transport: utls\n    listen: %s\n    args: {cert: %s, key: %s}\nservices:\n  echo: %s\n",
		stateDir, listen, cert, key, echoAddr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := start(t, bin, "gateway", "--config", cfg)
	gw.await(t, "the gateway's bridge lines", fileExists(filepath.Join(stateDir, bridgesFile)))
	out, err := exec.Command(bin, "bridges", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("umbrella bridges: %v", err)
	}
	line := strings.TrimSpace(string(out))
	if strings.Contains(line, trust.PinArg+"=") {
		t.Fatalf("the line of a CA-issued certificate carries a pin: %s", line)
	}

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
					if !strings.Contains(client.out.String(), "certificate refused for www.example.com: unknown authority") {
						return errors.New("not yet")
					}
					return nil
				})
				return
			}
			echoTransfer(t, conn, 1<<20)
		})
	}
}
