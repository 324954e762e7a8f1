package probetest

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

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
