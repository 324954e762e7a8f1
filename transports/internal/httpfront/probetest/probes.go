package probetest

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"time"
)

// Probe is one payload a prober sends on a fresh connection.
type Probe struct {
	Name    string
	Payload []byte
}

// Probes is the prober's set: the empty probe, random bytes of many lengths (each
// kind of first byte nginx tells apart, lengths across TLS record-header and maximum
// record sizes), broken TLS record headers and hellos, ClientHellos whole, cut short
// and of old versions, and plain HTTP, whole, cut short and with junk. Random bytes
// come from a seed per probe, so a failure names a payload that can be sent again.
func Probes() []Probe {
	ps := []Probe{{"empty", nil}}
	for _, first := range []struct {
		name string
		b    byte
	}{
		{"text", 0x07}, // neither TLS nor a method: HTTP to nginx, a bad one
		{"method letter", 'G'},
		{"0x16", 0x16},
		{"high bit", 0xc5},
	} {
		for _, n := range []int{1, 2, 5, 6, 16, 100, 517, 1000, 1460, 2000, 16389, 20000} {
			name := fmt.Sprintf("random %d bytes, first %s", n, first.name)
			b := random(name, n)
			b[0] = first.b
			ps = append(ps, Probe{name, b})
		}
	}
	for i := range 8 {
		name := fmt.Sprintf("random 300 bytes #%d", i)
		ps = append(ps, Probe{name, random(name, 300)})
	}
	ps = append(ps, recordProbes()...)
	ps = append(ps, helloProbes()...)
	return append(ps, httpProbes()...)
}

// random returns n bytes drawn from a generator seeded by name.
func random(name string, n int) []byte {
	h := fnv.New64a()
	h.Write([]byte(name))
	r := rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// record is a TLS record header of type typ and version vers announcing n bytes,
// followed by body.
func record(typ byte, vers uint16, n int, body []byte) []byte {
	b := []byte{typ, byte(vers >> 8), byte(vers), byte(n >> 8), byte(n)}
	return append(b, body...)
}

func recordProbes() []Probe {
	var ps []Probe
	for _, v := range []uint16{0x0000, 0x0200, 0x0300, 0x0301, 0x0303, 0x0304, 0x03ff, 0x0400, 0xfefd} {
		name := fmt.Sprintf("handshake record version %04x, 64 random bytes", v)
		ps = append(ps, Probe{name, record(0x16, v, 64, random(name, 64))})
	}
	for _, n := range []int{0, 1, 3, 4, 16383, 16384, 16385, 16640, 16641, 16700, 16704, 16705, 16706, 16707, 16708, 16709, 18432, 18433, 65535} {
		ps = append(ps, Probe{fmt.Sprintf("handshake record header of %d bytes alone", n), record(0x16, 0x0301, n, nil)})
		name := fmt.Sprintf("handshake record of %d random bytes", n)
		ps = append(ps, Probe{name, record(0x16, 0x0301, n, random(name, n))})
	}
	for _, typ := range []byte{0x14, 0x15, 0x17, 0x18} {
		name := fmt.Sprintf("record type %d first", typ)
		ps = append(ps, Probe{name, record(typ, 0x0303, 2, []byte{2, 40})})
	}
	for _, typ := range []byte{0, 2, 11, 20, 24, 0xff} {
		name := fmt.Sprintf("handshake message type %d", typ)
		body := append([]byte{typ, 0, 0, 40}, random(name, 40)...)
		ps = append(ps, Probe{name, record(0x16, 0x0301, len(body), body)})
	}
	hello := clientHello(nil)
	for _, cut := range []int{2, 9, 40} {
		body := hello[5 : 5+cut]
		ps = append(ps, Probe{fmt.Sprintf("handshake record of %d bytes holding a hello's start", cut), record(0x16, 0x0301, len(body), body)})
	}
	// A ClientHello whose inner length runs past its record.
	long := append([]byte(nil), hello...)
	long[7]++
	ps = append(ps, Probe{"ClientHello longer than its record", long})
	// First bytes with the high bit set and a TLS major version: a record type no TLS
	// has, or (third byte 1) the length of an SSLv2 record.
	for _, h := range [][]byte{{0xc5, 3, 3, 0, 16}, {0x80, 3, 3, 0, 16}, {0xc5, 3, 1, 0, 16}, {0x81, 0x20, 1, 3, 3}, {0x80, 0x05, 1, 3, 3}, {0xff, 0xff, 1, 3, 3}} {
		name := fmt.Sprintf("high bit record % x, 40 random bytes", h)
		ps = append(ps, Probe{name, append(append([]byte(nil), h...), random(name, 40)...)})
	}
	ps = append(ps,
		Probe{"record type 0xc5 header alone", []byte{0xc5, 3, 3, 0, 16}},
		Probe{"5 empty handshake records", bytesRepeat(record(0x16, 0x0301, 0, nil), 5)},
		Probe{"33 empty handshake records", bytesRepeat(record(0x16, 0x0301, 0, nil), 33)},
		Probe{"5 empty handshake records, then a ClientHello", append(bytesRepeat(record(0x16, 0x0301, 0, nil), 5), hello...)},
		Probe{"ClientHello message of 0xffffff bytes", record(0x16, 0x0301, 4, []byte{1, 0xff, 0xff, 0xff})},
		Probe{"ClientHello message of 0x20000 bytes", record(0x16, 0x0301, 4, []byte{1, 2, 0, 0})},
		Probe{"ClientHello message of 0x10000 bytes", record(0x16, 0x0301, 4, []byte{1, 1, 0, 0})},
	)
	for _, split := range []struct {
		name string
		typ  byte
		vers uint16
	}{{"handshake", 0x16, 0x0301}, {"application data", 0x17, 0x0303}, {"version 0200", 0x16, 0x0200}, {"version 0305", 0x16, 0x0305}} {
		body := hello[5:]
		two := append(record(0x16, 0x0301, 50, body[:50]), record(split.typ, split.vers, len(body)-50, body[50:])...)
		ps = append(ps, Probe{"ClientHello in two records, the second " + split.name, two})
	}
	for i := range 4 {
		name := fmt.Sprintf("ClientHello message of 100 random bytes #%d", i)
		body := append([]byte{1, 0, 0, 100}, random(name, 100)...)
		ps = append(ps, Probe{name, record(0x16, 0x0301, len(body), body)})
	}
	for i := range 4 {
		name := fmt.Sprintf("SSLv2 record of 64 random bytes #%d", i)
		ps = append(ps, Probe{name, append([]byte{0x80, 64, 1}, random(name, 63)...)})
	}
	// SSLv2-style hellos (RFC 6101 appendix E) asking for TLS 1.0 and 1.2.
	for _, v := range []uint16{0x0301, 0x0303} {
		ps = append(ps, Probe{fmt.Sprintf("SSLv2 hello for version %04x", v), sslv2Hello(v)})
	}
	return ps
}

func bytesRepeat(b []byte, n int) []byte {
	var out []byte
	for range n {
		out = append(out, b...)
	}
	return out
}

func sslv2Hello(vers uint16) []byte {
	ciphers := []byte{0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x00, 0x00, 0x0a}
	challenge := random("sslv2 challenge", 16)
	body := []byte{1, byte(vers >> 8), byte(vers)}
	body = binary.BigEndian.AppendUint16(body, uint16(len(ciphers)))
	body = binary.BigEndian.AppendUint16(body, 0) // session id
	body = binary.BigEndian.AppendUint16(body, uint16(len(challenge)))
	body = append(body, ciphers...)
	body = append(body, challenge...)
	return append([]byte{0x80 | byte(len(body)>>8), byte(len(body))}, body...)
}

func helloProbes() []Probe {
	hello := clientHello(nil)
	ps := []Probe{{"ClientHello, TLS 1.3", hello}}
	for _, cut := range []int{1, 3, 5, 6, 11, 100, len(hello) / 2, len(hello) - 1} {
		ps = append(ps, Probe{fmt.Sprintf("ClientHello cut after %d bytes", cut), hello[:cut]})
	}
	for _, v := range []struct {
		name string
		max  uint16
	}{{"TLS 1.2", tls.VersionTLS12}, {"TLS 1.1", tls.VersionTLS11}, {"TLS 1.0", tls.VersionTLS10}} {
		ps = append(ps, Probe{"ClientHello, " + v.name + " at most", clientHello(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: v.max})})
	}
	for _, m := range helloMutations() {
		ps = append(ps, Probe{"ClientHello with " + m.name, m.hello()})
	}
	ps = append(ps, Probe{"ClientHello, TLS 1.3, unknown name", clientHello(&tls.Config{ServerName: "unrelated.example.net"})})
	ps = append(ps, Probe{"ClientHello then random bytes", append(append([]byte(nil), hello...), random("after hello", 300)...)})
	return ps
}

func httpProbes() []Probe {
	s := func(name, payload string) Probe { return Probe{name, []byte(payload)} }
	junk := random("http junk", 200)
	return []Probe{
		s("HTTP GET", "GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\n\r\n"),
		s("HTTP/1.0 GET", "GET / HTTP/1.0\r\n\r\n"),
		s("HTTP/1.1 GET without Host", "GET / HTTP/1.1\r\n\r\n"),
		s("HTTP HEAD", "HEAD / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP POST with a body", "POST /x HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 5\r\n\r\nhello"),
		s("HTTP CONNECT", "CONNECT www.example.com:443 HTTP/1.1\r\nHost: www.example.com:443\r\n\r\n"),
		s("HTTP unknown method", "HELLO / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP lower-case method", "get / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
		s("HTTP/0.9", "GET /\r\n"),
		s("HTTP version 3.0", "GET / HTTP/3.0\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP request line cut short", "GET / HTT"),
		s("HTTP head cut short", "GET / HTTP/1.1\r\nHost: www.example.com\r\n"),
		s("blank lines", "\r\n\r\n"),
		s("HTTP method alone", "GET"),
		s("HTTP with a NUL in the path", "GET /\x00 HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP with a bare CR", "GET / HTTP/1.1\rHost: www.example.com\r\n\r\n"),
		s("HTTP header without a colon", "GET / HTTP/1.1\r\nHost: www.example.com\r\nnocolon\r\n\r\n"),
		s("HTTP header name with a space", "GET / HTTP/1.1\r\nHost: www.example.com\r\nBad Name: x\r\n\r\n"),
		s("HTTP header with a NUL", "GET / HTTP/1.1\r\nHost: www.example.com\r\nX: a\x00b\r\n\r\n"),
		s("HTTP two Hosts", "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"),
		{"HTTP request line then junk", append([]byte("GET / HTTP/1.1\r\n"), junk...)},
		{"HTTP method then junk", append([]byte("GET "), junk...)},
		{"HTTP path then junk", append([]byte("GET /"), junk...)},
		s("HTTP/0.9 POST", "POST /\r\n"),
		s("HTTP/0.9 with a query", "GET /?a=b\r\n"),
		s("HTTP leading blank lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP absolute URI", "GET http://www.example.com/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP absolute URI with a bad host", "GET http://a..b/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP bad Host", "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n"),
		s("HTTP empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n"),
		s("HTTP bad escape", "GET /%zz HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP path above the root", "GET /../x HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP TRACE", "TRACE / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP Transfer-Encoding gzip", "POST / HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: gzip\r\n\r\n"),
		s("HTTP/1.0 with Transfer-Encoding", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
		s("HTTP Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
		s("HTTP POST without its body", "POST /x HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 5\r\n\r\n"),
		s("HTTP POST with half its body", "POST /x HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 10\r\n\r\nhello"),
		s("HTTP TRACE with a Content-Length", "TRACE / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 5\r\n\r\n"),
		s("HTTP POST without Host, with a Content-Length", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
		s("HTTP bad Content-Length", "POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: abc\r\n\r\n"),
		s("HTTP duplicate If-Match", "GET / HTTP/1.1\r\nHost: www.example.com\r\nIf-Match: a\r\nIf-Match: b\r\n\r\n"),
		s("HTTP header name with an underscore", "GET / HTTP/1.1\r\nHost: www.example.com\r\nX_Y: 1\r\n\r\n"),
		s("HTTP header line starting with a colon", "GET / HTTP/1.1\r\nHost: www.example.com\r\n: x\r\n\r\n"),
		s("HTTP bare LF line ends", "GET / HTTP/1.1\nHost: www.example.com\n\n"),
		s("HTTP version 1.10", "GET / HTTP/1.10\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP version 0.9 in full", "GET / HTTP/0.9\r\n\r\n"),
		s("HTTP method with a digit", "GET2 / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP 200 header lines", "GET / HTTP/1.1\r\nHost: www.example.com\r\n"+repeatString("X-A: 0123456789012345678901234567890123456789\r\n", 200)+"\r\n"),
		s("HTTP 1000 header lines", "GET / HTTP/1.1\r\nHost: www.example.com\r\n"+repeatString("X-A: 0123456789012345678901234567890123456789\r\n", 1000)+"\r\n"),
		s("HTTP 2000 blank lines", repeatString("\r\n", 2000)),
		s("HTTP URI of 9000 bytes", "GET /"+string(make([]byte, 0))+repeat('a', 9000)+" HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s("HTTP header of 9000 bytes", "GET / HTTP/1.1\r\nHost: www.example.com\r\nX: "+repeat('a', 9000)+"\r\n\r\n"),
	}
}

func repeatString(s string, n int) string {
	var out []byte
	for range n {
		out = append(out, s...)
	}
	return string(out)
}

func repeat(b byte, n int) string {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return string(s)
}

// clientHello returns the first flight crypto/tls's client sends with cfg (nil: TLS
// 1.3 to www.example.com offering h2 and http/1.1, as a browser does).
func clientHello(cfg *tls.Config) []byte {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = "www.example.com"
	}
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	c := &captureConn{}
	tls.Client(c, cfg).Handshake() // fails at the first read, the hello written
	return c.written
}

// captureConn keeps what is written to it and fails every read.
type captureConn struct {
	net.Conn
	written []byte
}

var errCaptured = errors.New("captured")

func (c *captureConn) Write(p []byte) (int, error) {
	c.written = append(c.written, p...)
	return len(p), nil
}
func (c *captureConn) Read([]byte) (int, error)         { return 0, errCaptured }
func (c *captureConn) Close() error                     { return nil }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }

// helloParts are the fields of a ClientHello body (RFC 8446 section 4.1.2).
type helloParts struct {
	version     []byte
	random      []byte
	sessionID   []byte
	ciphers     []byte
	compression []byte
	extensions  [][]byte // each whole: type, length, data
	trailing    []byte
}

func splitHello(record []byte) helloParts {
	b := record[5+4:]
	var h helloParts
	h.version, b = b[:2], b[2:]
	h.random, b = b[:32], b[32:]
	h.sessionID, b = b[1:1+int(b[0])], b[1+int(b[0]):]
	n := int(binary.BigEndian.Uint16(b))
	h.ciphers, b = b[2:2+n], b[2+n:]
	h.compression, b = b[1:1+int(b[0])], b[1+int(b[0]):]
	b = b[2:]
	for len(b) >= 4 {
		n := 4 + int(binary.BigEndian.Uint16(b[2:]))
		h.extensions = append(h.extensions, b[:n])
		b = b[n:]
	}
	return h
}

func (h helloParts) record() []byte {
	var body []byte
	body = append(body, h.version...)
	body = append(body, h.random...)
	body = append(append(body, byte(len(h.sessionID))), h.sessionID...)
	body = binary.BigEndian.AppendUint16(body, uint16(len(h.ciphers)))
	body = append(body, h.ciphers...)
	body = append(append(body, byte(len(h.compression))), h.compression...)
	var ext []byte
	for _, e := range h.extensions {
		ext = append(ext, e...)
	}
	if h.extensions != nil {
		body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
		body = append(body, ext...)
	}
	body = append(body, h.trailing...)
	msg := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return record(0x16, 0x0301, len(msg), msg)
}

type helloMutation struct {
	name   string
	mutate func(*helloParts)
}

func (m helloMutation) hello() []byte {
	h := splitHello(clientHello(nil))
	m.mutate(&h)
	return h.record()
}

func helloMutations() []helloMutation {
	return []helloMutation{
		{"an odd-length cipher list", func(h *helloParts) { h.ciphers = append(h.ciphers, 0x13) }},
		{"no ciphers", func(h *helloParts) { h.ciphers = nil }},
		{"only unknown ciphers", func(h *helloParts) { h.ciphers = []byte{0x0a, 0x0a, 0xfe, 0xfe} }},
		{"no null compression", func(h *helloParts) { h.compression = []byte{1} }},
		{"no compression methods", func(h *helloParts) { h.compression = nil }},
		{"a 33-byte session ID", func(h *helloParts) { h.sessionID = make([]byte, 33) }},
		{"a byte after the extensions", func(h *helloParts) { h.trailing = []byte{0} }},
		{"a duplicate extension", func(h *helloParts) { h.extensions = append(h.extensions, h.extensions[0]) }},
		{"no extensions", func(h *helloParts) { h.extensions = nil }},
		{"an extension overrunning its block", func(h *helloParts) {
			last := append([]byte(nil), h.extensions[len(h.extensions)-1]...)
			last[3]++
			h.extensions[len(h.extensions)-1] = last
		}},
		{"legacy version 0300", func(h *helloParts) {
			h.version = []byte{3, 0}
			h.extensions = withoutExtension(h.extensions, 43)
		}},
		{"legacy version 0304 and no supported_versions", func(h *helloParts) {
			h.version = []byte{3, 4}
			h.extensions = withoutExtension(h.extensions, 43)
		}},
		{"supported_versions of TLS 1.1 only", func(h *helloParts) {
			h.extensions = withoutExtension(h.extensions, 43)
			h.extensions = append(h.extensions, []byte{0, 43, 0, 3, 2, 3, 2})
		}},
		{"a malformed supported_versions", func(h *helloParts) {
			h.extensions = withoutExtension(h.extensions, 43)
			h.extensions = append(h.extensions, []byte{0, 43, 0, 3, 5, 3, 4})
		}},
		{"no key_share", func(h *helloParts) { h.extensions = withoutExtension(h.extensions, 51) }},
		{"no supported_groups", func(h *helloParts) { h.extensions = withoutExtension(h.extensions, 10) }},
		{"no signature_algorithms", func(h *helloParts) { h.extensions = withoutExtension(h.extensions, 13) }},
	}
}

func withoutExtension(exts [][]byte, typ uint16) [][]byte {
	var out [][]byte
	for _, e := range exts {
		if binary.BigEndian.Uint16(e) != typ {
			out = append(out, e)
		}
	}
	return out
}
