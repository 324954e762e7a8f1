package censor

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// Errors of the ClientHello reader. A censor judges what it has: a hello cut short
// still yields the fields that arrived (an SNI in the first QUIC datagram, say).
var (
	errNotClientHello = errors.New("not a TLS ClientHello")
	errTruncatedHello = errors.New("truncated TLS ClientHello")
)

// TLS code points the censor reads (RFC 8446 section 4, RFC 8422, RFC 7301).
const (
	tlsRecordHandshake    = 0x16
	tlsClientHello        = 0x01
	tlsExtServerName      = 0x0000
	tlsExtSupportedGroups = 0x000a
	tlsExtPointFormats    = 0x000b
	tlsExtALPN            = 0x0010
	maxHelloBytes         = 1 << 16
)

// helloInfo is what the censor reads from a ClientHello.
type helloInfo struct {
	ServerName string
	ALPN       []string
	// Complete is false when the hello was cut short; the fields above are then what
	// arrived, and the fingerprints are empty.
	Complete bool
	// JA3 is the JA3 string (Salesforce's TLS client fingerprint, before its MD5).
	JA3 string
	// records are the TLS records the hello came in (nil from QUIC), for JA4.
	records []byte
}

// JA3Hash is the MD5 of the JA3 string, the form allow lists carry.
func (h *helloInfo) JA3Hash() string {
	if h.JA3 == "" {
		return ""
	}
	sum := md5.Sum([]byte(h.JA3))
	return hex.EncodeToString(sum[:])
}

// looksLikeTLSHandshake reports whether b starts a TLS handshake record.
func looksLikeTLSHandshake(b []byte) bool {
	return len(b) >= 2 && b[0] == tlsRecordHandshake && b[1] == 0x03
}

// parseHelloRecords reads a ClientHello sent over TCP: one or more handshake records,
// possibly cut short. errTruncatedHello (with the partial hello) means more bytes may
// complete it.
func parseHelloRecords(b []byte) (*helloInfo, error) {
	if !looksLikeTLSHandshake(b) {
		return nil, fmt.Errorf("%w: no TLS handshake record", errNotClientHello)
	}
	var msg []byte
	s := cryptobyte.String(b)
	used := 0
	for !s.Empty() && len(msg) < maxHelloBytes {
		var typ uint8
		var version, n uint16
		if !s.ReadUint8(&typ) || !s.ReadUint16(&version) || !s.ReadUint16(&n) {
			break
		}
		if typ != tlsRecordHandshake {
			if len(msg) == 0 {
				return nil, fmt.Errorf("%w: record type %d", errNotClientHello, typ)
			}
			break
		}
		take := min(int(n), len(s))
		msg = append(msg, s[:take]...)
		s.Skip(take)
		used = len(b) - len(s)
		if take < int(n) {
			break
		}
	}
	h, err := parseHelloMessage(msg)
	if h != nil && h.Complete {
		h.records = b[:used]
	}
	return h, err
}

// parseHelloMessage reads a handshake message that should be a ClientHello (as QUIC
// carries it in CRYPTO frames), possibly cut short.
func parseHelloMessage(msg []byte) (*helloInfo, error) {
	s := cryptobyte.String(msg)
	var typ uint8
	var length uint32
	if !s.ReadUint8(&typ) {
		return nil, errTruncatedHello
	}
	if typ != tlsClientHello {
		return nil, fmt.Errorf("%w: handshake type %d", errNotClientHello, typ)
	}
	if !s.ReadUint24(&length) {
		return &helloInfo{}, errTruncatedHello
	}
	body := s
	complete := len(body) >= int(length)
	if complete {
		body = body[:length]
	}
	h := &helloInfo{}
	err := h.readBody(body)
	if err == nil && !complete {
		err = errTruncatedHello
	}
	if errors.Is(err, errTruncatedHello) && complete {
		// The message was all there, so a field running past its end is malformed.
		return nil, fmt.Errorf("%w: fields overrun the message", errNotClientHello)
	}
	h.Complete = err == nil
	if !h.Complete {
		h.JA3 = ""
		return h, err
	}
	return h, nil
}

// readBody reads a ClientHello body; on running out of bytes it returns
// errTruncatedHello, keeping what it read.
func (h *helloInfo) readBody(body cryptobyte.String) error {
	var version uint16
	var sessionID, suites, compression, exts cryptobyte.String
	if !body.ReadUint16(&version) || !body.Skip(32) || !body.ReadUint8LengthPrefixed(&sessionID) ||
		!body.ReadUint16LengthPrefixed(&suites) || !body.ReadUint8LengthPrefixed(&compression) {
		return errTruncatedHello
	}
	if len(suites)%2 != 0 {
		return fmt.Errorf("%w: odd cipher suites length", errNotClientHello)
	}
	ja3 := ja3Builder{version: version, suites: uint16s(suites)}
	defer func() { h.JA3 = ja3.String() }()
	if body.Empty() {
		return nil
	}
	var extsLen uint16
	if !body.ReadUint16(&extsLen) {
		return errTruncatedHello
	}
	exts = body
	cut := len(exts) < int(extsLen)
	if !cut {
		if len(exts) != int(extsLen) {
			return fmt.Errorf("%w: %d bytes after the extensions", errNotClientHello, len(exts)-int(extsLen))
		}
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return errTruncatedHello
		}
		ja3.exts = append(ja3.exts, typ)
		if err := h.readExtension(typ, data, &ja3); err != nil {
			return err
		}
	}
	if cut {
		return errTruncatedHello
	}
	return nil
}

func (h *helloInfo) readExtension(typ uint16, d cryptobyte.String, ja3 *ja3Builder) error {
	var list cryptobyte.String
	switch typ {
	case tlsExtServerName:
		if !d.ReadUint16LengthPrefixed(&list) {
			return fmt.Errorf("%w: bad server_name", errNotClientHello)
		}
		for !list.Empty() {
			var nameType uint8
			var name cryptobyte.String
			if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
				return fmt.Errorf("%w: bad server_name entry", errNotClientHello)
			}
			if nameType == 0 && h.ServerName == "" {
				h.ServerName = strings.ToLower(string(name))
			}
		}
	case tlsExtALPN:
		if !d.ReadUint16LengthPrefixed(&list) {
			return fmt.Errorf("%w: bad ALPN", errNotClientHello)
		}
		for !list.Empty() {
			var proto cryptobyte.String
			if !list.ReadUint8LengthPrefixed(&proto) {
				return fmt.Errorf("%w: bad ALPN entry", errNotClientHello)
			}
			h.ALPN = append(h.ALPN, string(proto))
		}
	case tlsExtSupportedGroups:
		if !d.ReadUint16LengthPrefixed(&list) || len(list)%2 != 0 {
			return fmt.Errorf("%w: bad supported_groups", errNotClientHello)
		}
		ja3.groups = uint16s(list)
	case tlsExtPointFormats:
		if !d.ReadUint8LengthPrefixed(&list) {
			return fmt.Errorf("%w: bad ec_point_formats", errNotClientHello)
		}
		ja3.formats = list
	}
	return nil
}

func uint16s(s cryptobyte.String) []uint16 {
	out := make([]uint16, 0, len(s)/2)
	var v uint16
	for s.ReadUint16(&v) {
		out = append(out, v)
	}
	return out
}

// ja3Builder collects the JA3 fields: version, suites, extensions, groups, point
// formats, GREASE left out (github.com/salesforce/ja3).
type ja3Builder struct {
	version              uint16
	suites, exts, groups []uint16
	formats              []byte
}

func (j ja3Builder) String() string {
	join := func(vs []uint16) string {
		var parts []string
		for _, v := range vs {
			if !isGREASE(v) {
				parts = append(parts, strconv.Itoa(int(v)))
			}
		}
		return strings.Join(parts, "-")
	}
	formats := make([]uint16, len(j.formats))
	for i, f := range j.formats {
		formats[i] = uint16(f)
	}
	return fmt.Sprintf("%d,%s,%s,%s,%s", j.version, join(j.suites), join(j.exts), join(j.groups), join(formats))
}

// isGREASE reports whether v is one of RFC 8701's reserved 0x?a?a values.
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }
