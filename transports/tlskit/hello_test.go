package tlskit

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/umbrella-edge/edge/transports"
)

// testHello describes a ClientHello for buildHello.
type testHello struct {
	version    uint16 // legacy_version; 0 means TLS 1.2's 0x0303
	suites     []uint16
	extensions []Extension
	noExts     bool // omit the extensions block entirely
}

// helloMessage encodes h as a handshake message (as QUIC carries it).
func helloMessage(h testHello) []byte {
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
	return append([]byte{handshakeTypeClientHello, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// buildHello encodes h as one TLS record, the way a client puts it on the wire.
func buildHello(h testHello) []byte { return inRecords(helloMessage(h), maxRecordPayload) }

// inRecords wraps a handshake message in TLS records of at most size bytes each.
func inRecords(msg []byte, size int) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, recordTypeHandshake, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

func sniExt(name string) Extension {
	entry := append([]byte{0, byte(len(name) >> 8), byte(len(name))}, name...)
	return Extension{extServerName, append([]byte{byte(len(entry) >> 8), byte(len(entry))}, entry...)}
}

func alpnExt(protos ...string) Extension {
	var list []byte
	for _, p := range protos {
		list = append(list, byte(len(p)))
		list = append(list, p...)
	}
	return Extension{extALPN, append([]byte{byte(len(list) >> 8), byte(len(list))}, list...)}
}

func uint16ListExt(typ uint16, lenBytes int, vs ...uint16) Extension {
	var list []byte
	for _, v := range vs {
		list = binary.BigEndian.AppendUint16(list, v)
	}
	prefix := []byte{byte(len(list) >> 8), byte(len(list))}
	if lenBytes == 1 {
		prefix = []byte{byte(len(list))}
	}
	return Extension{typ, append(prefix, list...)}
}

func TestParseClientHelloReadsWhatFingerprintsUse(t *testing.T) {
	rec := buildHello(testHello{
		suites: []uint16{0x1a1a, 0x1301, 0xc02b},
		extensions: []Extension{
			{0x2a2a, nil},
			sniExt("www.example.com"),
			alpnExt("h2", "http/1.1"),
			uint16ListExt(extSupportedVersions, 1, 0x3a3a, 0x0304, 0x0303),
			uint16ListExt(extSignatureAlgorithms, 2, 0x0403, 0x0804),
			uint16ListExt(extSupportedGroups, 2, 0x4a4a, 29, 23),
			{extPointFormats, []byte{1, 0}},
		},
	})
	h, err := ParseClientHello(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Complete || h.ServerName != "www.example.com" {
		t.Errorf("complete %v, server name %q; want a complete hello for www.example.com", h.Complete, h.ServerName)
	}
	if !slices.Equal(h.ALPN, []string{"h2", "http/1.1"}) {
		t.Errorf("ALPN %q", h.ALPN)
	}
	if len(h.CipherSuites) != 3 || len(h.Extensions) != 7 || len(h.SupportedVersions) != 3 || len(h.SignatureAlgorithms) != 2 ||
		len(h.SupportedGroups) != 3 || len(h.PointFormats) != 1 {
		t.Errorf("parsed %d suites, %d extensions, %d versions, %d signature algorithms, %d groups, %d point formats; want 3, 7, 3, 2, 3, 1",
			len(h.CipherSuites), len(h.Extensions), len(h.SupportedVersions), len(h.SignatureAlgorithms), len(h.SupportedGroups), len(h.PointFormats))
	}
}

func TestParseClientHelloKeepsTheServerNameAsSent(t *testing.T) {
	h, err := ParseClientHello(buildHello(testHello{suites: []uint16{0x1301}, extensions: []Extension{sniExt("Example.COM")}}))
	if err != nil || h.ServerName != "Example.COM" {
		t.Fatalf("server name %q, %v; want Example.COM", h.ServerName, err)
	}
}

func TestParseClientHelloJoinsRecords(t *testing.T) {
	rec := buildHello(testHello{suites: []uint16{0x1301}, extensions: []Extension{sniExt("split.example")}})
	msg := rec[5:]
	// The same message cut into three records, as a client may send it.
	var split []byte
	for _, part := range [][]byte{msg[:3], msg[3:20], msg[20:]} {
		split = append(split, recordTypeHandshake, 3, 1, byte(len(part)>>8), byte(len(part)))
		split = append(split, part...)
	}
	h, err := ParseClientHello(split)
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerName != "split.example" {
		t.Errorf("server name %q, want split.example", h.ServerName)
	}
}

// goFirstFlight is what crypto/tls's client sends first, for serverName.
func goFirstFlight(t *testing.T, serverName string) []byte {
	return goHello(t, &tls.Config{ServerName: serverName})
}

func TestParseClientHelloReadsRealHellos(t *testing.T) {
	tests := []struct {
		name  string
		hello []byte
		sni   string
	}{
		{"captured Chromium", capture(t, "chromium-156.hello"), "www.wikipedia.org"},
		{"captured Firefox", capture(t, "firefox-153.hello"), "www.wikipedia.org"},
		{"Go crypto/tls", goFirstFlight(t, "go.example"), "go.example"},
		{"our Chrome", captureOurHello(t, transports.Args{ArgServerName: "chrome.example", ArgFP: FPChrome}), "chrome.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseClientHello(tt.hello)
			if err != nil {
				t.Fatal(err)
			}
			if !h.Complete || h.JA3() == "" || h.JA4() == "" || h.ServerName != tt.sni {
				t.Fatalf("hello: complete %v, JA3 %q, JA4 %q, SNI %q; want complete, fingerprints, SNI %q", h.Complete, h.JA3(), h.JA4(), h.ServerName, tt.sni)
			}
			// A censor that reassembles sees the same hello cut into 100-byte records.
			split, err := ParseClientHello(inRecords(tt.hello[5:], 100)) // each hello is one record
			if err != nil || split.JA3() != h.JA3() || split.JA4() != h.JA4() || split.ServerName != h.ServerName {
				t.Fatalf("split hello: %v, JA3 %q JA4 %q SNI %q; want the whole one's", err, split.JA3(), split.JA4(), split.ServerName)
			}
			// Cut short, it still shows what arrived and says that more is due.
			cut, err := ParseClientHello(tt.hello[:len(tt.hello)-1])
			if !errors.Is(err, ErrTruncatedHello) || cut.Complete || cut.JA3() != "" || cut.JA4() != "" {
				t.Fatalf("cut hello: %v complete %v; want ErrTruncatedHello and no fingerprint", err, cut.Complete)
			}
		})
	}
}

func TestParseClientHelloCutShortShowsWhatArrived(t *testing.T) {
	good := buildHello(testHello{suites: []uint16{0x1301}, extensions: []Extension{sniExt("a.example"), alpnExt("h2")}})
	afterSNI := len(good) - len(alpnExt("h2").Data) - 4
	tests := []struct {
		name    string
		in      []byte
		wantSNI string
	}{
		{"a record header alone", []byte{recordTypeHandshake, 3, 1, 0, 100}, ""},
		{"the last byte missing", good[:len(good)-1], "a.example"},
		{"cut after the server name", good[:afterSNI], "a.example"},
		{"cut inside the server name", good[:afterSNI-2], ""},
		{"a record of another type ends it", append(inRecords(good[5:afterSNI], maxRecordPayload), 20, 3, 3, 0, 1, 1), "a.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseClientHello(tt.in)
			if !errors.Is(err, ErrTruncatedHello) {
				t.Fatalf("ParseClientHello = %v, want ErrTruncatedHello", err)
			}
			if h != nil && (h.Complete || h.ServerName != tt.wantSNI) {
				t.Fatalf("complete %v, SNI %q; want incomplete with SNI %q", h.Complete, h.ServerName, tt.wantSNI)
			}
		})
	}
}

func TestParseClientHelloRejectsMalformedInput(t *testing.T) {
	good := buildHello(testHello{suites: []uint16{0x1301}, extensions: []Extension{sniExt("a.example")}})
	overrun := helloMessage(testHello{suites: []uint16{0x1301}})
	overrun[len(overrun)-1] = 9 // an extensions block of 9 bytes, in a message that ends here
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not a handshake record", append([]byte{23}, good[1:]...)},
		{"a ServerHello", inRecords([]byte{2, 0, 0, 4, 3, 3, 0, 0}, 100)},
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
		{"extensions overrunning a whole message", inRecords(overrun, 100)},
		{"bytes after the extensions", func() []byte {
			msg := append(helloMessage(testHello{suites: []uint16{0x1301}, extensions: []Extension{sniExt("a.example")}}), 0)
			msg[3]++ // the message's length takes in the extra byte
			return inRecords(msg, 100)
		}()},
		{"odd supported_versions", buildHello(testHello{extensions: []Extension{{extSupportedVersions, []byte{3, 3, 4, 3}}}})},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseClientHello(tt.in); !errors.Is(err, ErrMalformedHello) {
				t.Fatalf("ParseClientHello = %v, want ErrMalformedHello", err)
			}
		})
	}
}

func capture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("hellos/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParseClientHello holds the parser to its contract on any bytes: an error is
// malformed or truncated, a hello without error is complete and fingerprinted, one cut
// short has no fingerprint; the same for a handshake message as QUIC carries it.
func FuzzParseClientHello(f *testing.F) {
	for _, name := range []string{"chromium-156.hello", "firefox-153.hello"} {
		b := capture(f, name)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add(inRecords(helloMessage(testHello{suites: []uint16{0x1301}, extensions: []Extension{sniExt("a.example")}}), 16))
	f.Add(buildHello(testHello{suites: []uint16{0x1301}, noExts: true}))
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte) (*ClientHello, error){ParseClientHello, ParseClientHelloMessage} {
			h, err := parse(b)
			switch {
			case errors.Is(err, ErrTruncatedHello):
				if h != nil && (h.Complete || h.JA3() != "" || h.JA4() != "") {
					t.Fatalf("a hello cut short is complete or has fingerprints: %+v", h)
				}
			case err != nil:
				if !errors.Is(err, ErrMalformedHello) {
					t.Fatalf("error %v wraps neither ErrMalformedHello nor ErrTruncatedHello", err)
				}
			case h == nil || !h.Complete || h.JA3() == "":
				t.Fatalf("no error but hello %+v", h)
			case len(h.JA4()) != len("t13d1516h2_8daaf6152771_e5627efa2ab1"):
				t.Fatalf("JA4 %q has the wrong shape", h.JA4())
			}
		}
	})
}
