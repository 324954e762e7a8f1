package dns

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNameCapacity(t *testing.T) {
	tests := []struct {
		domain string
		want   int
	}{
		// 255 - 15 = 240 wire bytes: three 63-character labels (64 bytes each) and one
		// of 47, 236 characters of base32, 147 bytes.
		{"t.example.org", 147},
		// 255 - 1: three labels of 63, one of 61: 250 characters.
		{"", 156},
	}
	for _, tt := range tests {
		if got := nameCapacity(tt.domain); got != tt.want {
			t.Errorf("nameCapacity(%q) = %d, want %d", tt.domain, got, tt.want)
		}
	}
}

// fullPackets returns packets that fill a query under domain exactly.
func fullPackets(domain string) [][]byte {
	room := nameCapacity(domain) - upHeader
	return [][]byte{bytes.Repeat([]byte{0xa5}, room-1)}
}

func TestEncodeNameRoundTrip(t *testing.T) {
	m := newMasker(testDomain)
	id := clientID{1, 2, 3, 4, 5, 6, 7, 8}
	nonce := [nonceSize]byte{9, 8, 7, 6}
	tests := []struct {
		name    string
		packets [][]byte
	}{
		{"poll", nil},
		{"one packet", [][]byte{[]byte("a KCP segment")}},
		{"several packets", [][]byte{{1}, bytes.Repeat([]byte{2}, 40), {3, 3}}},
		{"as many bytes as fit", fullPackets(testDomain)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, err := encodeName(m, testDomain, nonce, id, tt.packets)
			if err != nil {
				t.Fatalf("encodeName: %v", err)
			}
			checkNameShape(t, name)
			prefix, ok := inZone(canonical(name), testDomain)
			if !ok {
				t.Fatalf("%q is not under %s", name, testDomain)
			}
			u, err := decodeName(m, prefix)
			if err != nil {
				t.Fatalf("decodeName: %v", err)
			}
			if u.id != id || u.nonce != nonce || len(u.packets) != len(tt.packets) {
				t.Fatalf("decoded id %v nonce %v and %d packets, want %v %v and %d", u.id, u.nonce, len(u.packets), id, nonce, len(tt.packets))
			}
			for i := range tt.packets {
				if !bytes.Equal(u.packets[i], tt.packets[i]) {
					t.Errorf("packet %d came back as %x, want %x", i, u.packets[i], tt.packets[i])
				}
			}
		})
	}
}

// checkNameShape checks what a resolver accepts: labels of 1 to 63 characters, a
// name of at most 253 characters.
func checkNameShape(t *testing.T, name string) {
	t.Helper()
	if n := len(strings.TrimSuffix(name, ".")); n > 253 {
		t.Errorf("name of %d characters, over 253: %s", n, name)
	}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if len(l) == 0 || len(l) > maxLabel {
			t.Errorf("label of %d characters in %s", len(l), name)
		}
	}
}

func TestEncodeNameRefusesWhatDoesNotFit(t *testing.T) {
	m := newMasker(testDomain)
	over := fullPackets(testDomain)
	over[0] = append(over[0], 0)
	if _, err := encodeName(m, testDomain, [nonceSize]byte{}, clientID{}, over); !errors.Is(err, errTooLong) {
		t.Fatalf("encodeName of one byte too many: %v, want errTooLong", err)
	}
}

func TestNamesDoNotRepeatTheClientID(t *testing.T) {
	// The mask keys on each query's nonce, so two queries of one tunnel share no
	// visible prefix beyond chance.
	m := newMasker(testDomain)
	id := clientID{1, 2, 3, 4, 5, 6, 7, 8}
	a, _ := encodeName(m, testDomain, [nonceSize]byte{1}, id, nil)
	b, _ := encodeName(m, testDomain, [nonceSize]byte{2}, id, nil)
	common := 0
	for common < len(a) && a[common] == b[common] {
		common++
	}
	if common > 4 {
		t.Errorf("two polls of one tunnel share their first %d characters: %s, %s", common, a, b)
	}
}

func TestDecodeNameRejectsWhatIsNotATunnelName(t *testing.T) {
	m := newMasker(testDomain)
	for _, prefix := range []string{
		"www",
		"_dmarc",
		"not-base32!",
		"aaaa",                   // too short for the header
		strings.Repeat("a", 300), // longer than any name
		cutName(t, m),            // a packet length past the end
	} {
		if _, err := decodeName(m, prefix); !errors.Is(err, errNotTunnel) {
			t.Errorf("decodeName(%q) = %v, want errNotTunnel", prefix, err)
		}
	}
}

// cutName returns the labels of a tunnel name whose packet was cut short.
func cutName(t *testing.T, m *masker) string {
	name, err := encodeName(m, testDomain, [nonceSize]byte{1}, clientID{}, [][]byte{bytes.Repeat([]byte{1}, 40)})
	if err != nil {
		t.Fatal(err)
	}
	prefix, _ := inZone(canonical(name), testDomain)
	return strings.ReplaceAll(prefix, ".", "")[:upHeader*8/5+8]
}

func TestDownstreamRoundTrip(t *testing.T) {
	m := newMasker(testDomain)
	nonce := [nonceSize]byte{1, 2, 3, 4}
	packets := [][]byte{bytes.Repeat([]byte{7}, serverMTU), {1}, []byte("ack")}
	b := packDown(m, nonce, packets)
	got, err := unpackDown(m, nonce, b)
	if err != nil {
		t.Fatalf("unpackDown: %v", err)
	}
	if len(got) != len(packets) {
		t.Fatalf("%d packets back, want %d", len(got), len(packets))
	}
	for i := range packets {
		if !bytes.Equal(got[i], packets[i]) {
			t.Errorf("packet %d changed", i)
		}
	}
	if _, err := unpackDown(m, nonce, packDown(m, nonce, packets)[:10]); err == nil {
		t.Error("unpackDown of a cut payload succeeded")
	}
}

func TestInZone(t *testing.T) {
	tests := []struct {
		name, zone, prefix string
		ok                 bool
	}{
		{"t.example.org", "t.example.org", "", true},
		{"a.b.t.example.org", "t.example.org", "a.b", true},
		{"at.example.org", "t.example.org", "", false},
		{"example.org", "t.example.org", "", false},
	}
	for _, tt := range tests {
		prefix, ok := inZone(tt.name, tt.zone)
		if prefix != tt.prefix || ok != tt.ok {
			t.Errorf("inZone(%q, %q) = %q, %v; want %q, %v", tt.name, tt.zone, prefix, ok, tt.prefix, tt.ok)
		}
	}
}
