package censor

import (
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/cryptobyte"
)

// errNotQUICInitial is wrapped by errors about datagrams that carry no readable QUIC
// v1 client Initial.
var errNotQUICInitial = errors.New("not a QUIC v1 client Initial")

// quicV1 is QUIC version 1's number (RFC 9000).
const quicV1 = 0x00000001

// quicV1Salt is the public salt every QUIC v1 Initial's keys come from (RFC 9001
// section 5.2): anyone on the path can decrypt Initials, which is how censors read the
// SNI of QUIC connections (Zohaib et al., USENIX Security 2025).
var quicV1Salt = [20]byte{
	0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
	0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
}

// isQUICLongHeader reports whether d starts with a QUIC long header of a version
// other than 0 (version negotiation), the shape every QUIC handshake begins with.
func isQUICLongHeader(d []byte) bool {
	return len(d) >= 5 && d[0]&0x80 != 0 && binary.BigEndian.Uint32(d[1:5]) != 0
}

// quicClientHello decrypts the client Initial packets of one datagram (RFC 9001
// section 5) and returns the CRYPTO stream they carry from offset 0 as far as it is
// contiguous: a ClientHello, or its start when it spans datagrams.
func quicClientHello(datagram []byte) ([]byte, error) {
	var r initialReader
	return r.add(datagram)
}

// initialReader reassembles the CRYPTO stream of one flow's client Initials across
// datagrams, as a censor must once clients split their ClientHello over several
// Initials (Chrome's "chaos protection", quic-go).
type initialReader struct {
	// dcid is the destination connection ID of the flow's first Initial: the keys of
	// every client Initial come from it, even after the client has switched to the
	// server's ID (RFC 9001 section 5.2).
	dcid  []byte
	frags []cryptoFrag
}

// add decrypts the client Initials of one more datagram and returns the CRYPTO stream
// read so far, from offset 0 as far as it is contiguous. A datagram without a client
// Initial (a Handshake packet, a short header) is an error wrapping errNotQUICInitial
// and changes nothing.
func (r *initialReader) add(datagram []byte) ([]byte, error) {
	var frags []cryptoFrag
	dcid := r.dcid
	initials := 0
	for rest := datagram; len(rest) > 0; {
		p, err := readLongHeader(rest)
		if err != nil {
			if initials > 0 {
				break // trailing bytes after Initials, as coalescing allows
			}
			return nil, err
		}
		if p.typ == 0 {
			if dcid == nil {
				dcid = p.dcid
			}
			plain, err := openInitial(rest[:p.end], p, dcid)
			if err != nil {
				return nil, err
			}
			f, err := cryptoFrames(plain)
			if err != nil {
				return nil, err
			}
			frags = append(frags, f...)
			initials++
		}
		rest = rest[p.end:]
	}
	if initials == 0 {
		return nil, fmt.Errorf("%w: no Initial packet", errNotQUICInitial)
	}
	// The datagram's buffer is the caller's to reuse.
	r.dcid = slices.Clone(dcid)
	r.frags = append(r.frags, frags...)
	return joinCrypto(r.frags), nil
}

// longHeader is a QUIC long-header packet's layout in a datagram.
type longHeader struct {
	typ      byte
	dcid     []byte
	pnOffset int // where the protected packet number starts
	end      int // where the packet ends
}

func readLongHeader(d []byte) (longHeader, error) {
	s := cryptobyte.String(d)
	var first uint8
	var version uint32
	var dcid, scid cryptobyte.String
	if !s.ReadUint8(&first) || first&0x80 == 0 {
		return longHeader{}, fmt.Errorf("%w: not a long header", errNotQUICInitial)
	}
	if !s.ReadUint32(&version) || version != quicV1 {
		return longHeader{}, fmt.Errorf("%w: version %#x", errNotQUICInitial, version)
	}
	if !s.ReadUint8LengthPrefixed(&dcid) || len(dcid) > 20 || !s.ReadUint8LengthPrefixed(&scid) || len(scid) > 20 {
		return longHeader{}, fmt.Errorf("%w: bad connection IDs", errNotQUICInitial)
	}
	h := longHeader{typ: first >> 4 & 0x3, dcid: dcid}
	if h.typ == 3 {
		return longHeader{}, fmt.Errorf("%w: Retry packet", errNotQUICInitial)
	}
	if h.typ == 0 {
		var tokenLen uint64
		if !readVarint(&s, &tokenLen) || !s.Skip(int(min(tokenLen, uint64(len(d))+1))) {
			return longHeader{}, fmt.Errorf("%w: bad token", errNotQUICInitial)
		}
	}
	var length uint64
	if !readVarint(&s, &length) {
		return longHeader{}, fmt.Errorf("%w: bad length", errNotQUICInitial)
	}
	h.pnOffset = len(d) - len(s)
	if length > uint64(len(s)) {
		return longHeader{}, fmt.Errorf("%w: length %d overruns the datagram", errNotQUICInitial, length)
	}
	h.end = h.pnOffset + int(length)
	return h, nil
}

// openInitial removes header protection and decrypts one Initial packet with the
// client keys of dcid.
func openInitial(pkt []byte, h longHeader, dcid []byte) ([]byte, error) {
	key, iv, hp, err := quicClientKeys(dcid)
	if err != nil {
		return nil, err
	}
	// The sample starts 4 bytes after the packet number's start, whatever its length.
	if h.pnOffset+4+16 > len(pkt) {
		return nil, fmt.Errorf("%w: packet too short to sample", errNotQUICInitial)
	}
	block, err := aes.NewCipher(hp)
	if err != nil {
		return nil, err
	}
	var mask [16]byte
	block.Encrypt(mask[:], pkt[h.pnOffset+4:h.pnOffset+20])
	header := slices.Clone(pkt[:h.pnOffset+4])
	header[0] ^= mask[0] & 0x0f
	pnLen := int(header[0]&0x03) + 1
	header = header[:h.pnOffset+pnLen]
	var pn uint64
	for i := range pnLen {
		header[h.pnOffset+i] ^= mask[1+i]
		pn = pn<<8 | uint64(header[h.pnOffset+i])
	}
	aesKey, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(aesKey)
	if err != nil {
		return nil, err
	}
	nonce := slices.Clone(iv)
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(pn >> (8 * i))
	}
	plain, err := aead.Open(nil, nonce, pkt[h.pnOffset+pnLen:], header)
	if err != nil {
		return nil, fmt.Errorf("%w: decrypt: %w", errNotQUICInitial, err)
	}
	return plain, nil
}

// quicClientKeys derives the client Initial key, IV and header-protection key of a
// destination connection ID (RFC 9001 section 5.2).
func quicClientKeys(dcid []byte) (key, iv, hp []byte, err error) {
	initial, err := hkdf.Extract(sha256.New, dcid, quicV1Salt[:])
	if err != nil {
		return nil, nil, nil, err
	}
	client, err := expandLabel(initial, "client in", sha256.Size)
	if err != nil {
		return nil, nil, nil, err
	}
	if key, err = expandLabel(client, "quic key", 16); err != nil {
		return nil, nil, nil, err
	}
	if iv, err = expandLabel(client, "quic iv", 12); err != nil {
		return nil, nil, nil, err
	}
	hp, err = expandLabel(client, "quic hp", 16)
	return key, iv, hp, err
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context (RFC 8446 7.1).
func expandLabel(secret []byte, label string, n int) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint16(uint16(n))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte("tls13 " + label)) })
	b.AddUint8(0)
	return hkdf.Expand(sha256.New, secret, string(b.BytesOrPanic()), n)
}

type cryptoFrag struct {
	offset uint64
	data   []byte
}

// maxCryptoOffset bounds the CRYPTO stream the censor reassembles: a ClientHello.
const maxCryptoOffset = 1 << 16

// cryptoFrames returns the CRYPTO frames of a decrypted Initial payload; the other
// frames an Initial may carry are skipped (RFC 9000 section 12.4).
func cryptoFrames(p []byte) ([]cryptoFrag, error) {
	var out []cryptoFrag
	s := cryptobyte.String(p)
	bad := func(what string) error { return fmt.Errorf("%w: bad %s frame", errNotQUICInitial, what) }
	for !s.Empty() {
		var typ uint64
		if !readVarint(&s, &typ) {
			return nil, bad("frame type")
		}
		switch typ {
		case 0x00, 0x01: // PADDING, PING
		case 0x02, 0x03: // ACK, ACK with ECN counts
			var largest, delay, count, first uint64
			if !readVarint(&s, &largest) || !readVarint(&s, &delay) || !readVarint(&s, &count) || !readVarint(&s, &first) {
				return nil, bad("ACK")
			}
			extra := 2 * count
			if typ == 0x03 {
				extra += 3
			}
			for range min(extra, uint64(len(p))) {
				var v uint64
				if !readVarint(&s, &v) {
					return nil, bad("ACK")
				}
			}
		case 0x06: // CRYPTO
			var offset, length uint64
			var data []byte
			if !readVarint(&s, &offset) || !readVarint(&s, &length) || length > uint64(len(s)) || !s.ReadBytes(&data, int(length)) {
				return nil, bad("CRYPTO")
			}
			if offset+length > maxCryptoOffset {
				return nil, fmt.Errorf("%w: CRYPTO data past %d bytes", errNotQUICInitial, maxCryptoOffset)
			}
			out = append(out, cryptoFrag{offset, data})
		case 0x1c: // CONNECTION_CLOSE
			var code, frame, n uint64
			if !readVarint(&s, &code) || !readVarint(&s, &frame) || !readVarint(&s, &n) || n > uint64(len(s)) || !s.Skip(int(n)) {
				return nil, bad("CONNECTION_CLOSE")
			}
		default:
			return nil, fmt.Errorf("%w: frame type %#x in an Initial", errNotQUICInitial, typ)
		}
	}
	return out, nil
}

// joinCrypto assembles fragments into the stream's contiguous prefix from offset 0.
func joinCrypto(frags []cryptoFrag) []byte {
	slices.SortFunc(frags, func(a, b cryptoFrag) int { return cmp.Compare(a.offset, b.offset) })
	var out []byte
	for _, f := range frags {
		if f.offset > uint64(len(out)) {
			break // a gap: what follows it is not readable yet
		}
		if end := f.offset + uint64(len(f.data)); end > uint64(len(out)) {
			out = append(out, f.data[uint64(len(out))-f.offset:]...)
		}
	}
	return out
}

// readVarint reads a QUIC variable-length integer (RFC 9000 section 16).
func readVarint(s *cryptobyte.String, v *uint64) bool {
	var first uint8
	if !s.ReadUint8(&first) {
		return false
	}
	n := 1 << (first >> 6)
	x := uint64(first & 0x3f)
	for i := 1; i < n; i++ {
		var b uint8
		if !s.ReadUint8(&b) {
			return false
		}
		x = x<<8 | uint64(b)
	}
	*v = x
	return true
}
