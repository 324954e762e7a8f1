package quicobfs

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// longHeader returns a QUIC v1 Initial-shaped packet of n bytes.
func longHeader(n int) []byte {
	p := make([]byte, n)
	p[0] = 0xc3
	binary.BigEndian.PutUint32(p[1:5], quicV1)
	p[5] = 8 // DCID length
	p[14] = 4
	return p
}

func TestPlausible(t *testing.T) {
	short := append([]byte{0x41}, make([]byte, 30)...)
	v2 := longHeader(1200)
	binary.BigEndian.PutUint32(v2[1:5], 0x6b3343cf)
	noFixedBit := longHeader(1200)
	noFixedBit[0] &^= 0x40
	longCID := longHeader(1200)
	longCID[5] = 21
	cutCID := longHeader(30)
	cutCID[5] = 20
	cutCID[26] = 20
	tests := []struct {
		name string
		p    []byte
		want bool
	}{
		{"QUIC v1 Initial", longHeader(1200), true},
		{"short header", short, true},
		{"shortest packet", short[:minPacket], true},
		{"too short", short[:minPacket-1], false},
		{"QUIC v2", v2, false},
		{"fixed bit clear", noFixedBit, false},
		{"21-byte connection ID", longCID, false},
		{"connection IDs past the end", cutCID, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plausible(tt.p); got != tt.want {
				t.Fatalf("plausible(%x…) = %v; want %v", tt.p[:min(len(tt.p), 8)], got, tt.want)
			}
		})
	}
}

func testMasker(t testing.TB) *masker {
	m, err := newMasker(newKey())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSealHidesTheQUICHeader(t *testing.T) {
	m := testMasker(t)
	p := longHeader(1250)
	a, b := m.seal(nil, p), m.seal(nil, p)
	if len(a) != saltSize+len(p) {
		t.Fatalf("sealed %d bytes into %d; want %d", len(p), len(a), saltSize+len(p))
	}
	if bytes.Equal(a, b) {
		t.Fatal("the same packet sealed twice gave the same datagram; want a fresh salt each time")
	}
	for _, d := range [][]byte{a, b} {
		// What a censor reads as the version field (bytes 1-4), and the packet itself
		// anywhere in the datagram, must not show.
		if binary.BigEndian.Uint32(d[1:5]) == quicV1 || bytes.Contains(d, p[:14]) {
			t.Fatalf("sealed datagram shows the QUIC header: %x", d[:32])
		}
		if d[0]&0xc0 != 0x40 {
			t.Fatalf("sealed datagram starts %#02x; want the two bits of a QUIC short header, 01", d[0])
		}
	}
	got, ok := m.open(make([]byte, len(a)), a)
	if !ok || !bytes.Equal(got, p) {
		t.Fatalf("open(seal(p)) = %d bytes, plausible %v; want p back", len(got), ok)
	}
}

func TestOpenWithAnotherKeyDoesNotGiveThePacket(t *testing.T) {
	p := longHeader(1250)
	d := testMasker(t).seal(nil, p)
	got, _ := testMasker(t).open(make([]byte, len(d)), d)
	if bytes.Equal(got, p) {
		t.Fatal("a second key unmasked the first key's datagram")
	}
}

// FuzzOpen checks that any datagram unmasks without panicking into a packet that is
// plausible when open says so, and that whatever is sealed opens to itself.
func FuzzOpen(f *testing.F) {
	m := testMasker(f)
	f.Add(m.seal(nil, longHeader(1200)))
	f.Add(m.seal(nil, append([]byte{0x41}, make([]byte, 40)...)))
	f.Add(make([]byte, saltSize+minPacket))
	f.Add(append([]byte{0x40}, make([]byte, saltSize+minPacket)...))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, d []byte) {
		got, ok := m.open(make([]byte, len(d)), d)
		if ok && (len(got) != len(d)-saltSize || !plausible(got)) {
			t.Fatalf("open(%d bytes) = %d bytes, ok, but plausible(%x…) = %v", len(d), len(got), got[:min(len(got), 8)], plausible(got))
		}
		back, ok := m.open(make([]byte, len(d)), m.seal(nil, d))
		if ok != plausible(d) || ok && !bytes.Equal(back, d) {
			t.Fatalf("open(seal(%d bytes)) = %d bytes, %v; want them back when plausible (%v)", len(d), len(back), ok, plausible(d))
		}
	})
}
