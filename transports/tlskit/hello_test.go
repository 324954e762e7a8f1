package tlskit

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// testHello describes a ClientHello for buildHello.
type testHello struct {
	version    uint16 // legacy_version; 0 means TLS 1.2's 0x0303
	suites     []uint16
	extensions []extension
	noExts     bool // omit the extensions block entirely
}

// buildHello encodes h as one TLS record, the way a client puts it on the wire.
func buildHello(h testHello) []byte {
	if h.version == 0 {
		h.version = 0x0303
	}
	var body []byte
	body = binary.BigEndian.AppendUint16(body, h.version)
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // empty session ID
	body = binary.BigEndian.AppendUint16(body, uint16(2*len(h.suites)))
	for _, s := range h.suites {
		body = binary.BigEndian.AppendUint16(body, s)
	}
	body = append(body, 1, 0) // compression: null
	if !h.noExts {
		var exts []byte
		for _, e := range h.extensions {
			exts = binary.BigEndian.AppendUint16(exts, e.Type)
			exts = binary.BigEndian.AppendUint16(exts, uint16(len(e.Data)))
			exts = append(exts, e.Data...)
		}
		body = binary.BigEndian.AppendUint16(body, uint16(len(exts)))
		body = append(body, exts...)
	}
	msg := append([]byte{handshakeTypeClientHello, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	rec := []byte{recordTypeHandshake, 3, 1, byte(len(msg) >> 8), byte(len(msg))}
	return append(rec, msg...)
}

func sniExt(name string) extension {
	entry := append([]byte{0, byte(len(name) >> 8), byte(len(name))}, name...)
	return extension{extServerName, append([]byte{byte(len(entry) >> 8), byte(len(entry))}, entry...)}
}

func alpnExt(protos ...string) extension {
	var list []byte
	for _, p := range protos {
		list = append(list, byte(len(p)))
		list = append(list, p...)
	}
	return extension{extALPN, append([]byte{byte(len(list) >> 8), byte(len(list))}, list...)}
}

func uint16ListExt(typ uint16, lenBytes int, vs ...uint16) extension {
	var list []byte
	for _, v := range vs {
		list = binary.BigEndian.AppendUint16(list, v)
	}
	prefix := []byte{byte(len(list) >> 8), byte(len(list))}
	if lenBytes == 1 {
		prefix = []byte{byte(len(list))}
	}
	return extension{typ, append(prefix, list...)}
}

func TestParseClientHelloReadsWhatFingerprintsUse(t *testing.T) {
	rec := buildHello(testHello{
		suites: []uint16{0x1a1a, 0x1301, 0xc02b},
		extensions: []extension{
			{0x2a2a, nil},
			sniExt("www.example.com"),
			alpnExt("h2", "http/1.1"),
			uint16ListExt(extSupportedVersions, 1, 0x3a3a, 0x0304, 0x0303),
			uint16ListExt(extSignatureAlgorithms, 2, 0x0403, 0x0804),
		},
	})
	h, err := parseClientHello(rec)
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerName != "www.example.com" {
		t.Errorf("server name %q", h.ServerName)
	}
	if len(h.ALPN) != 2 || h.ALPN[0] != "h2" || h.ALPN[1] != "http/1.1" {
		t.Errorf("ALPN %q", h.ALPN)
	}
	if len(h.CipherSuites) != 3 || len(h.Extensions) != 5 || len(h.SupportedVersions) != 3 || len(h.SignatureAlgorithms) != 2 {
		t.Errorf("parsed %d suites, %d extensions, %d versions, %d signature algorithms; want 3, 5, 3, 2",
			len(h.CipherSuites), len(h.Extensions), len(h.SupportedVersions), len(h.SignatureAlgorithms))
	}
}

func TestParseClientHelloJoinsRecords(t *testing.T) {
	rec := buildHello(testHello{suites: []uint16{0x1301}, extensions: []extension{sniExt("split.example")}})
	msg := rec[5:]
	// The same message cut into three records, as a client may send it.
	var split []byte
	for _, part := range [][]byte{msg[:3], msg[3:20], msg[20:]} {
		split = append(split, recordTypeHandshake, 3, 1, byte(len(part)>>8), byte(len(part)))
		split = append(split, part...)
	}
	h, err := parseClientHello(split)
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerName != "split.example" {
		t.Errorf("server name %q, want split.example", h.ServerName)
	}
}

func TestParseClientHelloRejectsMalformedInput(t *testing.T) {
	good := buildHello(testHello{suites: []uint16{0x1301}, extensions: []extension{sniExt("a.example")}})
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"truncated record", good[:len(good)-1]},
		{"not a handshake record", append([]byte{23}, good[1:]...)},
		{"not a ClientHello", append(append([]byte{}, good[:5]...), append([]byte{2}, good[6:]...)...)},
		{"odd cipher suites length", func() []byte {
			b := buildHello(testHello{suites: []uint16{0x1301}, noExts: true})
			b[5+4+2+32+1+1] = 1 // cipher_suites length 1: half a suite
			return b
		}()},
		{"extension overruns its block", func() []byte {
			b := append([]byte{}, good...)
			b[len(b)-len("a.example")-7] = 0xff // the SNI extension's length
			return b
		}()},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseClientHello(tt.in); !errors.Is(err, ErrMalformedHello) {
				t.Fatalf("parseClientHello = %v, want ErrMalformedHello", err)
			}
		})
	}
}

func FuzzParseClientHello(f *testing.F) {
	for _, name := range []string{"hellos/chromium-156.hello", "hellos/firefox-153.hello"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add(buildHello(testHello{suites: []uint16{0x1301}, noExts: true}))
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseClientHello(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedHello) {
				t.Fatalf("error %v does not wrap ErrMalformedHello", err)
			}
			return
		}
		if got := h.ja4(); len(got) != len("t13d1516h2_8daaf6152771_e5627efa2ab1") {
			t.Fatalf("JA4 %q has the wrong shape", got)
		}
	})
}
