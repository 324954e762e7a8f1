package bridge

import (
	"bytes"
	"testing"
)

func TestDecodeKey(t *testing.T) {
	b := []byte{0xfb, 0xff, 0x01}
	if s := EncodeKey(b); s != "-_8B" {
		t.Fatalf("EncodeKey = %q, want base64url without padding -_8B", s)
	}
	got, err := DecodeKey("-_8B", 3)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("DecodeKey = %x, %v", got, err)
	}
	for in, want := range map[string]string{
		"-_8B":  "want 4 bytes of base64url, got 3",
		"+/8B":  "want 4 bytes of base64url: illegal base64 data at input byte 0",
		"-_8=":  "want 4 bytes of base64url without '=' padding",
		"AAB":   "want 4 bytes of base64url: illegal base64 data at input byte 2", // non-canonical final bits
		"-_8B ": "want 4 bytes of base64url: illegal base64 data at input byte 4",
	} {
		if _, err := DecodeKey(in, 4); err == nil || err.Error() != want {
			t.Errorf("DecodeKey(%q, 4) error = %v, want %q", in, err, want)
		}
	}
}
