package probetest

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"
)

// ServerHelloShape is what a passive observer reads in a ServerHello: its length,
// version, cipher suite, and its extensions' types and lengths in order.
type ServerHelloShape struct {
	Len        int
	Version    uint16
	Cipher     uint16
	Extensions []string // "type(len)"
}

func (s ServerHelloShape) String() string {
	return fmt.Sprintf("%d bytes, version %04x, cipher %04x, extensions %v", s.Len, s.Version, s.Cipher, s.Extensions)
}

// ServerHello shakes hands with addr as crypto/tls's client does, at most maxVersion,
// and returns the shape of the ServerHello that came back.
func ServerHello(t *testing.T, addr string, maxVersion uint16) ServerHelloShape {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second)) // only keeps a broken server from hanging the test
	rec := &recordingConn{Conn: raw}
	c := tls.Client(rec, &tls.Config{InsecureSkipVerify: true, ServerName: "www.example.com", MaxVersion: maxVersion, NextProtos: []string{"h2", "http/1.1"}})
	if err := c.Handshake(); err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	b := rec.read
	if len(b) < 9 || b[0] != 0x16 || b[5] != 2 {
		t.Fatalf("%s answered % x…, not a ServerHello", addr, b[:min(len(b), 9)])
	}
	n := int(binary.BigEndian.Uint16(b[3:]))
	body := b[9 : 5+n]
	s := ServerHelloShape{Len: n, Version: binary.BigEndian.Uint16(body)}
	rest := body[34+1+int(body[34]):]
	s.Cipher = binary.BigEndian.Uint16(rest)
	for ext := rest[5:]; len(ext) >= 4; {
		l := int(binary.BigEndian.Uint16(ext[2:]))
		s.Extensions = append(s.Extensions, fmt.Sprintf("%d(%d)", binary.BigEndian.Uint16(ext), l))
		ext = ext[4+l:]
	}
	return s
}

// recordingConn keeps what was read from it.
type recordingConn struct {
	net.Conn
	read []byte
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read = append(c.read, p[:n]...)
	return n, err
}
