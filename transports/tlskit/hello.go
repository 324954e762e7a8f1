package tlskit

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// ErrMalformedHello is wrapped by errors about bytes that are not a well-formed TLS
// ClientHello.
var ErrMalformedHello = errors.New("malformed TLS ClientHello")

// TLS code points the fingerprint code reads (RFC 8446 section 4.2, RFC 7301).
const (
	recordTypeHandshake        = 22
	handshakeTypeClientHello   = 1
	extServerName              = 0x0000
	extSignatureAlgorithms     = 0x000d
	extALPN                    = 0x0010
	extSupportedVersions       = 0x002b
	maxRecordPayload           = 1 << 14
	maxClientHelloAcrossRecord = 1 << 16
)

// clientHello is the part of a ClientHello that fingerprints look at, in wire order.
type clientHello struct {
	CipherSuites        []uint16
	Extensions          []extension
	ServerName          string
	ALPN                []string
	SupportedVersions   []uint16
	SignatureAlgorithms []uint16
	LegacyVersion       uint16
}

type extension struct {
	Type uint16
	Data []byte
}

// readHandshake joins the payloads of the TLS handshake records at the start of b until
// one whole handshake message is there, and returns that message: a censor, like a
// browser, may see a ClientHello split over several records.
func readHandshake(b []byte) ([]byte, error) {
	var msg []byte
	s := cryptobyte.String(b)
	for {
		var typ uint8
		var version uint16
		var payload cryptobyte.String
		if !s.ReadUint8(&typ) || !s.ReadUint16(&version) || !s.ReadUint16LengthPrefixed(&payload) {
			return nil, fmt.Errorf("%w: truncated TLS record", ErrMalformedHello)
		}
		if typ != recordTypeHandshake {
			return nil, fmt.Errorf("%w: record type %d is not handshake", ErrMalformedHello, typ)
		}
		if len(payload) == 0 || len(payload) > maxRecordPayload {
			return nil, fmt.Errorf("%w: record length %d", ErrMalformedHello, len(payload))
		}
		msg = append(msg, payload...)
		if len(msg) < 4 {
			continue
		}
		n := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
		if n > maxClientHelloAcrossRecord {
			return nil, fmt.Errorf("%w: handshake message of %d bytes", ErrMalformedHello, n)
		}
		if len(msg) >= n {
			return msg[:n], nil
		}
	}
}

// parseClientHello parses a ClientHello as sent on the wire: one or more TLS records.
func parseClientHello(b []byte) (*clientHello, error) {
	msg, err := readHandshake(b)
	if err != nil {
		return nil, err
	}
	s := cryptobyte.String(msg)
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) {
		return nil, fmt.Errorf("%w: truncated handshake header", ErrMalformedHello)
	}
	if typ != handshakeTypeClientHello {
		return nil, fmt.Errorf("%w: handshake type %d", ErrMalformedHello, typ)
	}
	h := &clientHello{}
	var sessionID, suites, compression, exts cryptobyte.String
	if !body.ReadUint16(&h.LegacyVersion) || !body.Skip(32) ||
		!body.ReadUint8LengthPrefixed(&sessionID) ||
		!body.ReadUint16LengthPrefixed(&suites) ||
		!body.ReadUint8LengthPrefixed(&compression) {
		return nil, fmt.Errorf("%w: truncated hello body", ErrMalformedHello)
	}
	if h.CipherSuites, err = readUint16s(suites, "cipher suites"); err != nil {
		return nil, err
	}
	if body.Empty() {
		return h, nil // a hello without extensions is legal (and suspicious, but parseable)
	}
	if !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		return nil, fmt.Errorf("%w: bad extensions block", ErrMalformedHello)
	}
	for !exts.Empty() {
		var e extension
		var data cryptobyte.String
		if !exts.ReadUint16(&e.Type) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, fmt.Errorf("%w: truncated extension", ErrMalformedHello)
		}
		e.Data = data
		h.Extensions = append(h.Extensions, e)
		if err := h.readExtension(e); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// readExtension decodes the extensions whose contents a fingerprint shows.
func (h *clientHello) readExtension(e extension) error {
	d := cryptobyte.String(e.Data)
	var list cryptobyte.String
	var err error
	switch e.Type {
	case extServerName:
		if !d.ReadUint16LengthPrefixed(&list) {
			return fmt.Errorf("%w: bad server_name", ErrMalformedHello)
		}
		for !list.Empty() {
			var nameType uint8
			var name cryptobyte.String
			if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
				return fmt.Errorf("%w: bad server_name entry", ErrMalformedHello)
			}
			if nameType == 0 && h.ServerName == "" {
				h.ServerName = string(name)
			}
		}
	case extALPN:
		if !d.ReadUint16LengthPrefixed(&list) {
			return fmt.Errorf("%w: bad ALPN", ErrMalformedHello)
		}
		for !list.Empty() {
			var proto cryptobyte.String
			if !list.ReadUint8LengthPrefixed(&proto) {
				return fmt.Errorf("%w: bad ALPN entry", ErrMalformedHello)
			}
			h.ALPN = append(h.ALPN, string(proto))
		}
	case extSupportedVersions:
		if !d.ReadUint8LengthPrefixed(&list) {
			return fmt.Errorf("%w: bad supported_versions", ErrMalformedHello)
		}
		h.SupportedVersions, err = readUint16s(list, "supported_versions")
	case extSignatureAlgorithms:
		if !d.ReadUint16LengthPrefixed(&list) {
			return fmt.Errorf("%w: bad signature_algorithms", ErrMalformedHello)
		}
		h.SignatureAlgorithms, err = readUint16s(list, "signature_algorithms")
	}
	return err
}

func readUint16s(s cryptobyte.String, what string) ([]uint16, error) {
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("%w: odd length of %s", ErrMalformedHello, what)
	}
	out := make([]uint16, 0, len(s)/2)
	for !s.Empty() {
		var v uint16
		s.ReadUint16(&v)
		out = append(out, v)
	}
	return out, nil
}

// isGREASE reports whether v is one of the reserved 0x?a?a values of RFC 8701.
func isGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}
