package main

import (
	"bytes"
	"fmt"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/umbrella-edge/edge/bridge"
)

// TestShareCodeCarriesAGatewaysBridges hands a gateway's bridges over as an operator
// would: umbrella bridges --share prints one code and writes its QR code as a PNG,
// the PNG reads back as the code, and a client given only the code on its command line
// reaches the backend.
func TestShareCodeCarriesAGatewaysBridges(t *testing.T) {
	bin := buildBinary(t)
	g := startGateway(t, bin, startEcho(t))
	pngPath := filepath.Join(t.TempDir(), "bridges.png")
	cmd := exec.Command(bin, "bridges", "--config", g.config, "--share", "--png", pngPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("umbrella bridges --share: %v\n%s", err, stderr.String())
	}
	code, _, _ := strings.Cut(string(out), "\n")
	lines, err := bridge.ParseShare(code)
	if err != nil {
		t.Fatalf("umbrella bridges --share printed %.20s…, not a share code: %v", code, err)
	}
	if len(lines) != len(g.listeners) {
		t.Errorf("the code holds %d lines, want one per listener (%d)", len(lines), len(g.listeners))
	}
	if !strings.Contains(stderr.String(), "whoever has it can use these bridges") {
		t.Errorf("umbrella bridges --share did not warn that the code holds secrets; stderr:\n%s", stderr.String())
	}

	st, err := os.Stat(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600: it holds the bridge secret", pngPath, st.Mode().Perm())
	}
	data, _ := os.ReadFile(pngPath)
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("--png wrote no PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("no QR code read from the PNG: %v", err)
	}
	if res.GetText() != code {
		t.Fatalf("the PNG reads as %.20s…, want the printed code", res.GetText())
	}

	forward := freePort(t)
	cfg := filepath.Join(t.TempDir(), "client.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("forwards: {%q: echo}\n", forward)), 0o600); err != nil {
		t.Fatal(err)
	}
	client := start(t, bin, "client", "--config", cfg, "--bridges", code)
	client.awaitPort(t, "the client's forward port", forward)
	conn, err := net.Dial("tcp", forward)
	if err != nil {
		t.Fatal(err)
	}
	echoTransfer(t, conn, 1<<20)
}
