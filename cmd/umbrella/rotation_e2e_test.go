package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
)

// TestIdentityRotationThroughTheBinaries rotates a gateway's identity key as the
// operator procedure says (docs/identity-rotation.md): the config names the next key and
// the switch; umbrella bridges prints lines with both keys; a client holding a line
// from before the rotation learns the next key in a session during the overlap; the
// operator then makes the next key the identity; and the client, restarted with the
// same old line and its state directory, still reaches the backend.
func TestIdentityRotationThroughTheBinaries(t *testing.T) {
	bin := buildBinary(t)
	echo := startEcho(t)
	dir := t.TempDir()
	stateDir, cfgPath, listen := filepath.Join(dir, "state"), filepath.Join(dir, "gateway.yaml"), freePort(t)
	gatewayYAML := func(identity string) {
		yaml := fmt.Sprintf("state_dir: %s\nlisteners:\n  - {transport: tcp, listen: %s}\nservices: {echo: %s}\n%s",
			stateDir, listen, echo, identity)
		if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	startGatewayProc := func() *process {
		os.Remove(filepath.Join(stateDir, bridgesFile))
		p := start(t, bin, "gateway", "--config", cfgPath)
		p.await(t, "the gateway's bridge lines", fileExists(filepath.Join(stateDir, bridgesFile)))
		p.awaitPort(t, "the gateway's listener", listen)
		return p
	}
	bridges := func() bridge.Line {
		out, err := exec.Command(bin, "bridges", "--config", cfgPath).Output()
		if err != nil {
			t.Fatalf("umbrella bridges: %v", err)
		}
		b, err := bridge.Parse(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatalf("umbrella bridges printed %q: %v", out, err)
		}
		return b
	}

	// Before the rotation: the line users hold.
	gatewayYAML("")
	gw := startGatewayProc()
	oldLine := bridges()
	stop(t, gw)

	// The overlap: the next key is made on start and announced; new lines carry both.
	gatewayYAML(fmt.Sprintf("identity: {next: identity-next.key, switch_at: %s}\n", time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339)))
	gw = startGatewayProc()
	both := bridges()
	if !both.Key.Equal(oldLine.Key) || both.NextKey == nil {
		t.Fatalf("during the overlap umbrella bridges printed %s, want key= the old key and a next-key=", both.Redacted())
	}
	clientState := filepath.Join(dir, "client")
	runClient := func() {
		forward := freePort(t)
		cfg := filepath.Join(t.TempDir(), "client.yaml")
		yaml := fmt.Sprintf("state_dir: %s\nbridges: [%q]\nforwards: {%q: echo}\n", clientState, oldLine.String(), forward)
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c := start(t, bin, "client", "--config", cfg)
		c.awaitPort(t, "the client's forward port", forward)
		conn, err := net.Dial("tcp", forward)
		if err != nil {
			t.Fatal(err)
		}
		echoTransfer(t, conn, 64<<10)
		conn.Close()
		stop(t, c)
	}
	runClient()
	stop(t, gw)

	// After the overlap: the next key is the identity, the old one is gone.
	gatewayYAML("identity: {key: identity-next.key}\n")
	gw = startGatewayProc()
	if after := bridges(); !after.Key.Equal(both.NextKey) || after.NextKey != nil {
		t.Fatalf("after the switch umbrella bridges printed %s, want key= the next key alone", after.Redacted())
	}
	runClient()
	stop(t, gw)
}

// stop ends a child process and waits for it.
func stop(t *testing.T, p *process) {
	t.Helper()
	p.cmd.Process.Kill()
	<-p.exited
}
