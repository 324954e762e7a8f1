package config

import (
	"bufio"
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"rsc.io/qr"

	"github.com/umbrella-edge/edge/bridge"
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

// shareCode is the share code of a gateway's two lines, as umbrella bridges --share
// prints it.
func shareCode(t *testing.T) string {
	t.Helper()
	key, secret := bridge.EncodeKey(bytes.Repeat([]byte{7}, 32)), bridge.EncodeKey(bytes.Repeat([]byte{9}, 32))
	var lines []bridge.Line
	for _, s := range []string{
		"utls 203.0.113.5:443 key=" + key + " secret=" + secret + " fp=chrome servername=www.example.com",
		"obfs4 203.0.113.5:9443 key=" + key + " secret=" + secret + " cert=" + strings.Repeat("Ab3", 23) + " iat-mode=0",
	} {
		l, err := bridge.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	code, err := bridge.EncodeShare(lines)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// decodeQR reads a QR code out of an image with ZXing's decoder (the Go port), as a
// phone's scanner would.
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("no QR code read from the image: %v", err)
	}
	return res.GetText()
}

func TestQRPNGDecodesToTheShareCode(t *testing.T) {
	code := shareCode(t)
	data, err := QRPNG(code)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("QRPNG wrote no PNG: %v", err)
	}
	if got := decodeQR(t, img); got != code {
		t.Fatalf("the PNG reads as %q, want the share code %q", got, code)
	}
}

func TestTerminalQRDecodesToTheShareCode(t *testing.T) {
	code := shareCode(t)
	var out bytes.Buffer
	if err := WriteQR(&out, code); err != nil {
		t.Fatal(err)
	}
	// A screenshot of a light-on-dark terminal: drawn (light) half blocks white,
	// blanks black, 4 pixels a module.
	rows := readQR(t, out.String())
	const scale = 4
	img := image.NewGray(image.Rect(0, 0, len(rows[0])*scale, len(rows)*scale))
	for y, row := range rows {
		for x, light := range row {
			if !light {
				continue
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray(x*scale+dx, y*scale+dy, color.Gray{Y: 255})
				}
			}
		}
	}
	if got := decodeQR(t, img); got != code {
		t.Fatalf("the terminal's code reads as %q, want the share code %q", got, code)
	}
}
