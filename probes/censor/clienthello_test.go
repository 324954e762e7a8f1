package censor

import (
	"errors"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// buildHello builds a ClientHello message (no record header) with the given suites and
// extensions, each extension as type and body.
func buildHello(suites []uint16, exts [][2]any) []byte {
	var b cryptobyte.Builder
	b.AddUint8(tlsClientHello)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(0x0303)
		b.AddBytes(make([]byte, 32))
		b.AddUint8(0) // no session ID
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, s := range suites {
				b.AddUint16(s)
			}
		})
		b.AddUint8(1)
		b.AddUint8(0) // null compression
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range exts {
				b.AddUint16(e[0].(uint16))
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e[1].([]byte)) })
			}
		})
	})
	return b.BytesOrPanic()
}

// inRecords wraps a handshake message in TLS records of at most size bytes each.
func inRecords(msg []byte, size int) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, tlsRecordHandshake, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

func sniExt(name string) [2]any {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
	})
	return [2]any{uint16(tlsExtServerName), b.BytesOrPanic()}
}

func TestJA3LeavesGREASEOutAndKeepsOrder(t *testing.T) {
	msg := buildHello([]uint16{0x0a0a, 0x1301, 0xc02f}, [][2]any{
		{uint16(0x1a1a), []byte{}},
		sniExt("Example.COM"),
		{uint16(tlsExtSupportedGroups), []byte{0, 6, 0x2a, 0x2a, 0, 29, 0, 23}},
		{uint16(tlsExtPointFormats), []byte{1, 0}},
		{uint16(tlsExtALPN), []byte{0, 3, 2, 'h', '2'}},
	})
	h, err := parseHelloRecords(inRecords(msg, 1<<14))
	if err != nil {
		t.Fatal(err)
	}
	if want := "771,4865-49199,0-10-11-16,29-23,0"; h.JA3 != want {
		t.Errorf("JA3 = %q; want %q", h.JA3, want)
	}
	if h.ServerName != "example.com" || !slices.Equal(h.ALPN, []string{"h2"}) {
		t.Errorf("SNI %q ALPN %v; want example.com [h2]", h.ServerName, h.ALPN)
	}
}

func TestClientHelloReadsRealHellos(t *testing.T) {
	tests := []struct {
		name  string
		hello []byte
		sni   string
	}{
		{"captured Chromium", capturedHello(t, "chromium-156.hello"), ""},
		{"captured Firefox", capturedHello(t, "firefox-153.hello"), ""},
		{"Go crypto/tls", goHello(t, "go.example"), "go.example"},
		{"utls Chrome", utlsHello(t, "chrome", "chrome.example"), "chrome.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseHelloRecords(tt.hello)
			if err != nil {
				t.Fatal(err)
			}
			if !h.Complete || h.JA3 == "" || h.ServerName == "" || (tt.sni != "" && h.ServerName != tt.sni) {
				t.Fatalf("hello: complete %v, JA3 %q, SNI %q; want complete, a JA3, SNI %q", h.Complete, h.JA3, h.ServerName, tt.sni)
			}
			// A censor that reassembles sees the same hello cut into 100-byte records.
			split, err := parseHelloRecords(inRecords(tt.hello[5:], 100)) // each hello is one record
			if err != nil || split.JA3 != h.JA3 || split.ServerName != h.ServerName {
				t.Fatalf("split hello: %v, JA3 %q SNI %q; want the whole one's", err, split.JA3, split.ServerName)
			}
			// Cut short, it still shows what arrived and says that more is due.
			cut, err := parseHelloRecords(tt.hello[:len(tt.hello)-1])
			if !errors.Is(err, errTruncatedHello) || cut.Complete || cut.JA3 != "" {
				t.Fatalf("cut hello: %v complete %v; want errTruncatedHello and no fingerprint", err, cut.Complete)
			}
		})
	}
}

func TestClientHelloRejects(t *testing.T) {
	serverHello := inRecords([]byte{2, 0, 0, 4, 3, 3, 0, 0}, 100)
	overrun := buildHello([]uint16{0x1301}, nil)
	overrun[len(overrun)-1] = 9 // an extensions block of 9 bytes, in a message that ends here
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"HTTP", []byte("GET / HTTP/1.1\r\n"), errNotClientHello},
		{"a ServerHello", serverHello, errNotClientHello},
		{"application data", []byte{0x17, 3, 3, 0, 1, 0}, errNotClientHello},
		{"a record header alone", []byte{0x16, 3, 1, 0, 100}, errTruncatedHello},
		{"extensions overrunning a whole message", inRecords(overrun, 100), errNotClientHello},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseHelloRecords(tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("parseHelloRecords = %v; want %v", err, tt.want)
			}
		})
	}
}

func FuzzParseHelloRecords(f *testing.F) {
	f.Add(inRecords(buildHello([]uint16{0x1301}, [][2]any{sniExt("a.example")}), 16))
	f.Add(capturedHello(f, "firefox-153.hello"))
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHelloRecords(b)
		if err == nil && (h == nil || !h.Complete || h.JA3 == "") {
			t.Fatalf("no error but hello %+v", h)
		}
		if h != nil && !h.Complete && h.JA3 != "" {
			t.Fatal("a fingerprint from an incomplete hello")
		}
		parseHelloMessage(b)
	})
}
