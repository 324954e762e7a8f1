package probetest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
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
		Probe{"5 empty handshake records", bytes.Repeat(record(0x16, 0x0301, 0, nil), 5)},
		Probe{"33 empty handshake records", bytes.Repeat(record(0x16, 0x0301, 0, nil), 33)},
		Probe{"5 empty handshake records, then a ClientHello", append(bytes.Repeat(record(0x16, 0x0301, 0, nil), 5), hello...)},
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
