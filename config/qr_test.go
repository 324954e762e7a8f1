package config

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"rsc.io/qr"
)

// readQR turns WriteQR's output back into rows of light (true) and dark modules.
func readQR(t *testing.T, out string) [][]bool {
	t.Helper()
	halves := map[rune][2]bool{'█': {true, true}, '▀': {true, false}, '▄': {false, true}, ' ': {false, false}}
	var rows [][]bool
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		top, bottom := []bool{}, []bool{}
		for _, r := range line {
			h, ok := halves[r]
			if !ok {
				t.Fatalf("line %d has %q, not a half block or a space", i, r)
			}
			top, bottom = append(top, h[0]), append(bottom, h[1])
		}
		rows = append(rows, top, bottom)
	}
	return rows
}

func TestWriteQRDrawsTheCodeModuleForModule(t *testing.T) {
	for _, text := range []string{
		"tcp 192.0.2.1:8443 " + sessionArgs,
		"utls 203.0.113.5:443 " + sessionArgs + " fp=chrome servername=www.example.com",
		"x",
	} {
		var buf bytes.Buffer
		if err := WriteQR(&buf, text); err != nil {
			t.Fatal(err)
		}
		code, err := qr.Encode(text, qr.M)
		if err != nil {
			t.Fatal(err)
		}
		total := code.Size + 2*quietZone
		rows := readQR(t, buf.String())
		if want := (total + 1) / 2 * 2; len(rows) != want {
			t.Fatalf("%d module rows (two per line), want %d for a %d-module code with its quiet zone", len(rows), want, code.Size)
		}
		for y, row := range rows {
			if len(row) != total {
				t.Fatalf("row %d is %d modules wide, want %d", y, len(row), total)
			}
			for x, light := range row {
				mx, my := x-quietZone, y-quietZone
				var want bool
				switch {
				case y >= total: // below the quiet zone: the terminal's own background
					want = false
				case mx < 0 || my < 0 || mx >= code.Size || my >= code.Size: // quiet zone
					want = true
				default:
					want = !code.Black(mx, my)
				}
				if light != want {
					t.Fatalf("module (%d, %d) light=%v, want %v", x, y, light, want)
				}
			}
		}
	}
}

func TestRenderQRHalfBlocks(t *testing.T) {
	// A 2×2 code, dark on the diagonal, inside a 4-module quiet zone: 10×10 modules.
	dark := func(x, y int) bool { return x == y }
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	renderQR(w, 2, dark)
	w.Flush()
	full := strings.Repeat("█", 10) + "\n"
	want := full + full + "████▄▀████\n" + full + full
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestWriteQRDiffersForDifferentText(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteQR(&a, "tcp 192.0.2.1:8443 "+sessionArgs); err != nil {
		t.Fatal(err)
	}
	if err := WriteQR(&b, "tcp 192.0.2.2:8443 "+sessionArgs); err != nil {
		t.Fatal(err)
	}
	if a.String() == b.String() {
		t.Fatal("two bridge lines give the same QR code")
	}
}

func TestWriteQRRejectsTextTooLongForQR(t *testing.T) {
	err := WriteQR(&bytes.Buffer{}, strings.Repeat("x", 4000))
	if err == nil || !strings.Contains(err.Error(), "4000 bytes") {
		t.Fatalf("error %v, want one naming the size", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteQRReportsWriteErrors(t *testing.T) {
	if err := WriteQR(failingWriter{}, "x"); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v, want the writer's", err)
	}
}
