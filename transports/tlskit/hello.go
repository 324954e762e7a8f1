package tlskit

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Errors of the ClientHello parser. A hello cut short is not malformed: a censor judges
// what it has (an SNI in the first segment or QUIC datagram, say) and may wait for more.
var (
	// ErrMalformedHello is wrapped by errors about bytes that are not a well-formed TLS
	// ClientHello.
	ErrMalformedHello = errors.New("malformed TLS ClientHello")
	// ErrTruncatedHello is wrapped when the bytes start a ClientHello that has not all
	// arrived; the hello returned with it holds the fields that have.
	ErrTruncatedHello = errors.New("truncated TLS ClientHello")
)

// TLS code points the parser, the fingerprints and the first-flight judge read (RFC 8446
// section 4, RFC 8422, RFC 7301).
const (
	recordTypeHandshake      = 22
	handshakeTypeClientHello = 1
	extServerName            = 0x0000
	extSupportedGroups       = 0x000a
	extPointFormats          = 0x000b
	extSignatureAlgorithms   = 0x000d
	extALPN                  = 0x0010
	extSupportedVersions     = 0x002b
	maxRecordPayload         = 1 << 14
	// maxHelloBytes bounds the handshake bytes gathered from records: a ClientHello's
	// extensions block, its largest part, has a 16-bit length.
	maxHelloBytes = 1 << 16
)

// A ClientHello is what fingerprints and censors read of a TLS ClientHello, in wire
// order, as sent.
type ClientHello struct {
	LegacyVersion uint16
	CipherSuites  []uint16
	Extensions    []Extension
	// ServerName is the first host_name of server_name, as sent (DNS names compare
	// without case).
	ServerName          string
	ALPN                []string
	SupportedVersions   []uint16
	SignatureAlgorithms []uint16
	SupportedGroups     []uint16
	PointFormats        []uint8
	// Complete is false when the hello was cut short: the fields above are then those
	// that arrived, and the fingerprints are empty.
	Complete bool
}

// An Extension is one ClientHello extension, its contents undecoded.
type Extension struct {
	Type uint16
	Data []byte
}

// ParseClientHello reads a ClientHello as sent over TCP: one or more TLS handshake
// records, joined as a server (or a censor that reassembles) joins them. Bytes cut short
// give the fields that arrived and an error wrapping ErrTruncatedHello; a record of
// another type ends the hello where it stands. Other errors wrap ErrMalformedHello.
func ParseClientHello(records []byte) (*ClientHello, error) {
	if len(records) < 2 || records[0] != recordTypeHandshake || records[1] != 3 {
		return nil, fmt.Errorf("%w: no TLS handshake record", ErrMalformedHello)
	}
	var msg []byte
	s := cryptobyte.String(records)
	for !s.Empty() && !wholeMessage(msg) {
		var typ uint8
		var version, n uint16
		if !s.ReadUint8(&typ) || !s.ReadUint16(&version) || !s.ReadUint16(&n) {
			break
		}
		if typ != recordTypeHandshake {
			break // the first record is one: msg holds its bytes
		}
		take := min(int(n), len(s))
		msg = append(msg, s[:take]...)
		s.Skip(take)
		if take < int(n) {
			break
		}
	}
	return ParseClientHelloMessage(msg)
}

// wholeMessage reports whether msg holds a whole handshake message, or as many bytes as
// the parser gathers.
func wholeMessage(msg []byte) bool {
	if len(msg) >= maxHelloBytes {
		return true
	}
	return len(msg) >= 4 && len(msg) >= 4+(int(msg[1])<<16|int(msg[2])<<8|int(msg[3]))
}

// ParseClientHelloMessage reads a handshake message that should be a ClientHello, as
// QUIC carries it in CRYPTO frames, possibly cut short; errors as ParseClientHello's.
func ParseClientHelloMessage(msg []byte) (*ClientHello, error) {
	s := cryptobyte.String(msg)
	var typ uint8
	var length uint32
	if !s.ReadUint8(&typ) {
		return nil, ErrTruncatedHello
	}
	if typ != handshakeTypeClientHello {
		return nil, fmt.Errorf("%w: handshake type %d", ErrMalformedHello, typ)
	}
	if !s.ReadUint24(&length) {
		return &ClientHello{}, ErrTruncatedHello
	}
	body := s
	complete := len(body) >= int(length)
	if complete {
		body = body[:length]
	}
	h := &ClientHello{}
	err := h.readBody(body)
	if err == nil && !complete {
		err = ErrTruncatedHello
	}
	if errors.Is(err, ErrTruncatedHello) && complete {
		// The message was all there, so a field running past its end is malformed.
		return nil, fmt.Errorf("%w: fields overrun the message", ErrMalformedHello)
	}
	if err != nil && !errors.Is(err, ErrTruncatedHello) {
		return nil, err
	}
	h.Complete = err == nil
	return h, err
}

// readBody reads a ClientHello body; on running out of bytes it returns
// ErrTruncatedHello, keeping what it read.
func (h *ClientHello) readBody(body cryptobyte.String) error {
	var sessionID, suites, compression cryptobyte.String
	if !body.ReadUint16(&h.LegacyVersion) || !body.Skip(32) || !body.ReadUint8LengthPrefixed(&sessionID) ||
		!body.ReadUint16LengthPrefixed(&suites) || !body.ReadUint8LengthPrefixed(&compression) {
		return ErrTruncatedHello
	}
	var err error
	if h.CipherSuites, err = readUint16s(suites, "cipher suites"); err != nil {
		return err
	}
	if body.Empty() {
		return nil // a hello without extensions is legal (and suspicious, but parseable)
	}
	var extsLen uint16
	if !body.ReadUint16(&extsLen) {
		return ErrTruncatedHello
	}
	exts := body
	cut := len(exts) < int(extsLen)
	if !cut && len(exts) != int(extsLen) {
		return fmt.Errorf("%w: %d bytes after the extensions", ErrMalformedHello, len(exts)-int(extsLen))
	}
	for !exts.Empty() {
		var e Extension
		var data cryptobyte.String
		if !exts.ReadUint16(&e.Type) || !exts.ReadUint16LengthPrefixed(&data) {
			return ErrTruncatedHello
		}
		e.Data = data
		h.Extensions = append(h.Extensions, e)
		if err := h.readExtension(e); err != nil {
			return err
		}
	}
	if cut {
		return ErrTruncatedHello
	}
	return nil
}

// readExtension decodes the extensions whose contents a fingerprint or a censor reads.
func (h *ClientHello) readExtension(e Extension) error {
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
	case extSupportedGroups:
		if !d.ReadUint16LengthPrefixed(&list) {
			return fmt.Errorf("%w: bad supported_groups", ErrMalformedHello)
		}
		h.SupportedGroups, err = readUint16s(list, "supported_groups")
	case extPointFormats:
		if !d.ReadUint8LengthPrefixed(&list) {
			return fmt.Errorf("%w: bad ec_point_formats", ErrMalformedHello)
		}
		h.PointFormats = list
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
