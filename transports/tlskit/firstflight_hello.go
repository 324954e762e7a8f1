package tlskit

import (
	"encoding/binary"
	"slices"

	"golang.org/x/crypto/cryptobyte"
)

// judgeHello judges a whole ClientHello body as OpenSSL 3.0 does before it negotiates
// anything: the framing of every field, the extensions, the version, and what TLS
// 1.3 cannot do without. What passes goes on to crypto/tls.
func judgeHello(body []byte) flightVerdict {
	s := cryptobyte.String(body)
	var legacy uint16
	var sid, ciphers, compression, exts cryptobyte.String
	if !s.ReadUint16(&legacy) || !s.Skip(32) ||
		!s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 ||
		!s.ReadUint16LengthPrefixed(&ciphers) || !s.ReadUint8LengthPrefixed(&compression) {
		return alert(alertDecodeError, "malformed ClientHello")
	}
	present := map[uint16][]byte{}
	if !s.Empty() {
		if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
			return alert(alertDecodeError, "malformed ClientHello extensions")
		}
		for !exts.Empty() {
			var typ uint16
			var data cryptobyte.String
			if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
				return alert(alertDecodeError, "malformed ClientHello extensions")
			}
			if _, dup := present[typ]; dup {
				return alert(alertIllegalParameter, "duplicate extension")
			}
			present[typ] = data
		}
	}
	tls13, v := negotiateVersion(legacy, present)
	if v.action != passHello {
		return v
	}
	switch {
	case len(ciphers)%2 != 0:
		return alert(alertDecodeError, "odd cipher list")
	case len(ciphers) == 0:
		return alert(alertIllegalParameter, "no ciphers")
	case !slices.Contains(compression, 0):
		return alert(alertDecodeError, "no null compression")
	}
	for _, ext := range []uint16{extSupportedGroups, extKeyShare, extSignatureAlgorithms} {
		if _, ok := present[ext]; tls13 && !ok {
			return alert(alertMissingExtension, "TLS 1.3 without a required extension")
		}
	}
	if _, ok := present[extSignatureAlgorithms]; !tls13 && !ok {
		// TLS 1.2 then falls back to SHA-1 signatures, which Debian's OpenSSL
		// (security level 2) refuses.
		return alert(alertHandshakeFailure, "TLS 1.2 without signature algorithms")
	}
	return flightVerdict{action: passHello}
}

// negotiateVersion picks TLS 1.3 or 1.2 as OpenSSL does, from supported_versions
// when the client sent it, else from the legacy version.
func negotiateVersion(legacy uint16, present map[uint16][]byte) (tls13 bool, v flightVerdict) {
	pass := flightVerdict{action: passHello}
	if data, ok := present[extSupportedVersions]; ok {
		s := cryptobyte.String(data)
		var list cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&list) || !s.Empty() || len(list) == 0 || len(list)%2 != 0 {
			return false, versionAlert(legacy)
		}
		var tls12 bool
		for ; len(list) >= 2; list = list[2:] {
			switch binary.BigEndian.Uint16(list) {
			case 0x0304:
				tls13 = true
			case 0x0303:
				tls12 = true
			}
		}
		if !tls13 && !tls12 {
			return false, versionAlert(legacy)
		}
		return tls13, pass
	}
	switch {
	case legacy >= 0x0303:
		return false, pass
	case legacy == 0x0300:
		// SSL 3.0 is known but refused: OpenSSL gets as far as looking for a cipher.
		v := alert(alertHandshakeFailure, "SSL 3.0 hello")
		v.vers = legacy
		return false, v
	}
	return false, versionAlert(legacy)
}
