package webtest

import (
	"strings"
	"testing"
)

// TestRandomBytesNeverAskOpenSSLToWait: random bytes are a probe that nginx answers at
// once; an SSLv2 ClientHello header in them would have OpenSSL wait 60 s for the rest
// of its record, and the probe that drew it would fail by chance (1 run in 256).
func TestRandomBytesNeverAskOpenSSLToWait(t *testing.T) {
	for range 10000 {
		b := RandomBytes(517, true)
		if b[0]&0x80 == 0 || b[2] == 1 {
			t.Fatalf("drew % x…: want the high bit set and no SSLv2 ClientHello type", b[:3])
		}
		b = RandomBytes(517, false)
		if b[0] < 'a' || b[0] > 'z' || !strings.HasSuffix(string(b), "\n") {
			t.Fatalf("drew % x…: want a lower-case letter first and a newline last", b[:3])
		}
	}
}
