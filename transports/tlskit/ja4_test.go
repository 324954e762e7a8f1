package tlskit

import (
	"os"
	"strings"
	"testing"
)

// The published example of FoxIO's JA4 specification (technical_details/JA4.md): its
// cipher suites, extensions and signature algorithms in their original order.
var (
	specSuites = []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035}
	specExts   = []uint16{0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015}
	specSigs   = []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601}
)

// specHello builds the example hello; sigs replaces its signature algorithms and grease
// sprinkles GREASE values, which JA4 must ignore.
func specHello(sigs []uint16, grease bool) []byte {
	var exts []Extension
	if grease {
		exts = append(exts, Extension{0x5a5a, nil})
	}
	for _, typ := range specExts {
		switch typ {
		case extServerName:
			exts = append(exts, sniExt("www.example.com"))
		case extALPN:
			exts = append(exts, alpnExt("h2", "http/1.1"))
		case extSupportedVersions:
			if grease {
				exts = append(exts, uint16ListExt(typ, 1, 0x7a7a, 0x0304, 0x0303))
			} else {
				exts = append(exts, uint16ListExt(typ, 1, 0x0304, 0x0303))
			}
		case extSignatureAlgorithms:
			list := sigs
			if grease {
				list = append([]uint16{0xcaca}, sigs...)
			}
			exts = append(exts, uint16ListExt(typ, 2, list...))
		case extSupportedGroups:
			exts = append(exts, uint16ListExt(typ, 2, 29, 23))
		case extPointFormats:
			exts = append(exts, Extension{typ, []byte{1, 0}})
		default:
			exts = append(exts, Extension{typ, nil})
		}
	}
	suites := specSuites
	if grease {
		exts = append(exts, Extension{0x9a9a, []byte{0}})
		suites = append([]uint16{0xdada}, specSuites...)
	}
	return buildHello(testHello{suites: suites, extensions: exts})
}

func TestJA4MatchesThePublishedExample(t *testing.T) {
	tests := []struct {
		name  string
		hello []byte
		want  string
	}{
		{"spec example", specHello(specSigs, false), "t13d1516h2_8daaf6152771_e5627efa2ab1"},
		{"GREASE everywhere is ignored", specHello(specSigs, true), "t13d1516h2_8daaf6152771_e5627efa2ab1"},
		// The spec's second example: no signature algorithms, so no trailing underscore.
		{"no signature algorithms", specHello(nil, false), "t13d1516h2_8daaf6152771_6d807ffa2a79"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JA4(tt.hello)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("JA4 = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestJA4PartA(t *testing.T) {
	tests := []struct {
		name  string
		hello testHello
		want  string
	}{
		{"no SNI means an IP destination", testHello{suites: []uint16{0x1301}, extensions: []Extension{alpnExt("h2")}}, "t12i0101h2"},
		{"TLS 1.2 without supported_versions", testHello{suites: []uint16{0xc02f, 0xc030}, extensions: []Extension{sniExt("a.example")}}, "t12d020100"},
		{"legacy TLS 1.0", testHello{version: 0x0301, suites: []uint16{0x002f}, noExts: true}, "t10i010000"},
		{"http/1.1 first", testHello{extensions: []Extension{alpnExt("http/1.1", "h2")}}, "t12i0001h1"},
		{"single-character ALPN", testHello{extensions: []Extension{alpnExt("h")}}, "t12i0001hh"},
		{"empty first ALPN", testHello{extensions: []Extension{alpnExt("", "h2")}}, "t12i000100"},
		{"non-alphanumeric ALPN byte", testHello{extensions: []Extension{alpnExt("\xab")}}, "t12i0001ab"},
		{"two non-alphanumeric bytes", testHello{extensions: []Extension{alpnExt("\xab\xcd")}}, "t12i0001ad"},
		{"non-alphanumeric last byte", testHello{extensions: []Extension{alpnExt("0\xab")}}, "t12i00013b"},
		{"non-alphanumeric tail", testHello{extensions: []Extension{alpnExt("01\xab\xcd")}}, "t12i00013d"},
		{"non-alphanumeric middle only", testHello{extensions: []Extension{alpnExt("0\xab\xcd1")}}, "t12i000101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JA4(buildHello(tt.hello))
			if err != nil {
				t.Fatal(err)
			}
			if a, _, _ := strings.Cut(got, "_"); a != tt.want {
				t.Fatalf("JA4 part a = %s, want %s (JA4 %s)", a, tt.want, got)
			}
		})
	}
}

// The captured browsers' cipher suites are Chrome's long-standing fifteen, whose JA4
// part b the spec publishes; Firefox's differ.
func TestJA4OfCapturedBrowsers(t *testing.T) {
	tests := []struct {
		file, wantPrefix string
	}{
		{"hellos/chromium-156.hello", "t13d1517h2_8daaf6152771_"},
		{"hellos/firefox-153.hello", "t13d1617h2_"},
	}
	for _, tt := range tests {
		b, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := JA4(b)
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if !strings.HasPrefix(got, tt.wantPrefix) {
			t.Errorf("%s: JA4 %s, want prefix %s", tt.file, got, tt.wantPrefix)
		}
	}
}

func FuzzJA4(f *testing.F) {
	f.Add(specHello(specSigs, true))
	f.Add(buildHello(testHello{extensions: []Extension{alpnExt("\xff")}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, errA := JA4(b)
		c, errC := JA4(b)
		if a != c || (errA == nil) != (errC == nil) {
			t.Fatalf("JA4 not deterministic: %q/%v then %q/%v", a, errA, c, errC)
		}
	})
}
