package config

import (
	"bufio"
	"fmt"
	"io"

	"rsc.io/qr"
)

// quietZone is the light margin, in modules, that ISO/IEC 18004 requires around a QR
// code; scanners fail to find codes without it.
const quietZone = 4

// WriteQR prints text as a QR code for a phone to scan off a terminal, two module rows
// per line of text with Unicode half blocks. Light modules are drawn (█ ▀ ▄) and dark
// ones left blank, the convention of qrencode -t UTF8 for the usual light-on-dark
// terminal, with a light quiet zone around the code.
func WriteQR(w io.Writer, text string) error {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return fmt.Errorf("encode QR code of %d bytes: %w", len(text), err)
	}
	bw := bufio.NewWriter(w)
	renderQR(bw, code.Size, code.Black)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write QR code: %w", err)
	}
	return nil
}

// renderQR draws a size×size module matrix plus the quiet zone. Rows past the bottom of
// the quiet zone (the last text line's lower half when the height is odd) stay blank.
func renderQR(w *bufio.Writer, size int, dark func(x, y int) bool) {
	total := size + 2*quietZone
	light := func(x, y int) bool {
		if y >= total {
			return false
		}
		mx, my := x-quietZone, y-quietZone
		inCode := mx >= 0 && mx < size && my >= 0 && my < size
		return !inCode || !dark(mx, my)
	}
	for y := 0; y < total; y += 2 {
		for x := 0; x < total; x++ {
			switch top, bottom := light(x, y), light(x, y+1); {
			case top && bottom:
				w.WriteString("█")
			case top:
				w.WriteString("▀")
			case bottom:
				w.WriteString("▄")
			default:
				w.WriteByte(' ')
			}
		}
		w.WriteByte('\n')
	}
}

// QRPNG returns text's QR code as a PNG image, 8 pixels a module, dark on light, with
// the quiet zone: for a web page, a print-out or a phone's screen.
func QRPNG(text string) ([]byte, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, fmt.Errorf("encode QR code of %d bytes: %w", len(text), err)
	}
	return code.PNG(), nil
}
