package tlskit

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// TLS alert descriptions (RFC 8446 section 6).
const (
	alertBadCertificate     = 42
	alertCertificateUnknown = 46
)

// BrowserAlert is the alert Chromium sends when it refuses a server's certificate:
// certificate_unknown, then a FIN, nothing else. Measured on Debian's Chromium 156
// against a self-signed server and through the censor's mitm policy, in TLS 1.3 (the
// change_cipher_spec and the encrypted alert in one segment) and in TLS 1.2 (the alert
// in the clear): see TestChromiumRefusesAsOurClients in internal/lab. Go and utls send
// bad_certificate (42) instead, which a censor that terminates the TLS, and so holds
// the handshake keys, would read as "not a browser".
const BrowserAlert = alertCertificateUnknown

// Chromium checks a certificate on a thread of its own and refused ours 9 to 106 ms
// after the server's flight had arrived (11 refusals by Debian's Chromium 156, TLS 1.3
// over loopback on a loaded 2-core machine; one over QUIC: 27 ms), where Go decides in
// microseconds. A refusal waits a time drawn from that spread, so that a censor who
// times the alert sees a browser's pause.
const (
	refusalDelayMin = 10 * time.Millisecond
	refusalDelayMax = 100 * time.Millisecond
)

// WaitBeforeRefusal waits as long as Chromium takes to refuse a certificate, or until
// ctx ends.
func WaitBeforeRefusal(ctx context.Context) {
	d := refusalDelayMin + rand.N(refusalDelayMax-refusalDelayMin)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// TLS record types and the size of an encrypted TLS 1.3 alert: 2 bytes of alert, 1 of
// inner content type, 16 of AEAD tag.
const (
	recordHeader        = 5
	recordAlert         = 21
	recordAppData       = 23
	encryptedAlertBytes = 2 + 1 + 16
)

// abortConn sits under a utls client conn and makes a refused certificate end the
// handshake as a browser's does. Once refuse is called, the next write, utls's
// alert, leaves with BrowserAlert in place of utls's bad_certificate; every other
// byte passes as it is. In TLS 1.3 the alert is encrypted under the client's
// handshake traffic key, which utls reports through its key log (keyLog) and which is
// kept only until the handshake ends. utls serialises the handshake's writes.
type abortConn struct {
	net.Conn
	refused atomic.Bool
	version uint16
	suite   uint16
	secret  []byte // CLIENT_HANDSHAKE_TRAFFIC_SECRET, while the handshake runs
}

// refuse arms the rewrite of the alert utls is about to send.
func (c *abortConn) refuse(version, suite uint16) {
	c.version, c.suite = version, suite
	c.refused.Store(true)
}

// forget drops the handshake secret once the server was accepted.
func (c *abortConn) forget() { clear(c.secret); c.secret = nil }

func (c *abortConn) Write(p []byte) (int, error) {
	if !c.refused.Load() {
		return c.Conn.Write(p)
	}
	out := c.rewriteAlert(p)
	c.forget()
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rewriteAlert returns p with a bad_certificate alert record, in the clear or
// encrypted under the handshake key, replaced by BrowserAlert.
func (c *abortConn) rewriteAlert(p []byte) []byte {
	out := bytes.Clone(p)
	for rest := out; len(rest) >= recordHeader; {
		n := int(binary.BigEndian.Uint16(rest[3:5]))
		if len(rest) < recordHeader+n {
			break
		}
		rec := rest[:recordHeader+n]
		switch {
		case rec[0] == recordAlert && n == 2 && rec[6] == alertBadCertificate:
			rec[6] = BrowserAlert
		case rec[0] == recordAppData && n == encryptedAlertBytes && c.version == tls.VersionTLS13:
			c.reencrypt(rec)
		}
		rest = rest[len(rec):]
	}
	return out
}

// reencrypt replaces rec, the first record under the client's handshake key, with
// the same alert saying BrowserAlert, if it is a bad_certificate alert.
func (c *abortConn) reencrypt(rec []byte) {
	aead, nonce := handshakeAEAD(c.suite, c.secret)
	if aead == nil {
		return
	}
	header := rec[:recordHeader]
	plain, err := aead.Open(nil, nonce, rec[recordHeader:], header)
	if err != nil || !bytes.Equal(plain, []byte{2, alertBadCertificate, recordAlert}) {
		return
	}
	plain[1] = BrowserAlert
	aead.Seal(rec[:recordHeader], nonce, plain, header)
}

// handshakeAEAD derives the record protection of secret for suite (RFC 8446 section
// 7.3) and the nonce of its first record, sequence number 0.
func handshakeAEAD(suite uint16, secret []byte) (cipher.AEAD, []byte) {
	if secret == nil {
		return nil, nil
	}
	var h func() hash.Hash
	var keyLen int
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
		h, keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		h, keyLen = sha512.New384, 32
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		h, keyLen = sha256.New, chacha20poly1305.KeySize
	default:
		return nil, nil
	}
	key, err1 := expandLabel(h, secret, "key", keyLen)
	iv, err2 := expandLabel(h, secret, "iv", 12)
	if err1 != nil || err2 != nil {
		return nil, nil
	}
	var aead cipher.AEAD
	var err error
	if suite == tls.TLS_CHACHA20_POLY1305_SHA256 {
		aead, err = chacha20poly1305.New(key)
	} else {
		var block cipher.Block
		if block, err = aes.NewCipher(key); err == nil {
			aead, err = cipher.NewGCM(block)
		}
	}
	if err != nil {
		return nil, nil
	}
	return aead, iv
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context (RFC 8446 7.1).
func expandLabel(h func() hash.Hash, secret []byte, label string, length int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	return hkdf.Expand(h, secret, string(info), length)
}

// keyLog takes utls's key log (NSS's format, one secret a line) and keeps the client
// handshake traffic secret in its abortConn.
type keyLog struct{ c *abortConn }

func (k keyLog) Write(line []byte) (int, error) {
	f := strings.Fields(string(line))
	if len(f) == 3 && f[0] == "CLIENT_HANDSHAKE_TRAFFIC_SECRET" {
		if s, err := hex.DecodeString(f[2]); err == nil {
			k.c.secret = s
		}
	}
	return len(line), nil
}
