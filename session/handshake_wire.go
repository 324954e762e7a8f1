package session

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	"github.com/cloudflare/circl/kem"
	"github.com/cloudflare/circl/kem/hybrid"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/umbrella-edge/edge/internal/avx"
)

// hybridKEM is circl's X25519 + ML-KEM-768 that leaves the vector registers clean
// after each call: circl's AVX2 code does not, and every SHA-256 and AES block the
// handshake and its records compute after it paid for that (internal/avx).
type hybridKEM struct{ kem.Scheme }

// keyPair generates a key pair and encodes its public key.
func (s hybridKEM) keyPair() ([]byte, kem.PrivateKey, error) {
	defer avx.ClearUpper()
	pub, priv, err := s.GenerateKeyPair()
	if err != nil {
		return nil, nil, fmt.Errorf("generate hybrid key: %w", err)
	}
	b, err := pub.MarshalBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("encode hybrid key: %w", err)
	}
	return b, priv, nil
}

func (s hybridKEM) UnmarshalBinaryPublicKey(b []byte) (kem.PublicKey, error) {
	defer avx.ClearUpper()
	return s.Scheme.UnmarshalBinaryPublicKey(b)
}

func (s hybridKEM) Encapsulate(pub kem.PublicKey) (ct, shared []byte, err error) {
	defer avx.ClearUpper()
	return s.Scheme.Encapsulate(pub)
}

func (s hybridKEM) Decapsulate(priv kem.PrivateKey, ct []byte) ([]byte, error) {
	defer avx.ClearUpper()
	return s.Scheme.Decapsulate(priv, ct)
}

// Message layouts. docs/protocol.md is the specification; the offsets there and the
// constants here must agree.

const (
	// protocolVersion is the version byte of both hello bodies. Version 2 added the
	// server hello's random prefix, so that no two answers share a key and nonce.
	// The envelope the version byte travels in (R, MARK, masked length, sealed body)
	// is the same in every version, so a gateway tells versions apart (docs/protocol.md).
	protocolVersion = 2

	// Hello kinds. A client hello is new or resume; a server hello answers a new hello
	// with new, a resume hello with resume or, when the session is gone, rejected.
	kindNew      = 1
	kindResume   = 2
	kindRejected = 3

	randomSize = 32
	markSize   = 16
	// helloPrefixSize is what the gateway reads before it decides, with no public-key
	// work, whether a peer knows a bridge secret: R, MARK, masked body length.
	helloPrefixSize = randomSize + markSize + 2
	// serverRandomSize is the server hello's fresh random prefix S, which its key is
	// derived with; serverPrefixSize adds the masked body length.
	serverRandomSize = 32
	serverPrefixSize = serverRandomSize + 2

	tagSize = chacha20poly1305.Overhead

	// timestampSize is a big-endian Unix time in seconds.
	timestampSize = 8

	// maxHelloPadding bounds the random padding of both hellos, so that their sizes
	// vary by up to a kilobyte.
	maxHelloPadding = 1024
	// maxHelloBody bounds a sealed hello body on both sides: room for a resumption
	// ticket and the largest padding, and no more for a peer to make us read.
	maxHelloBody = 4096

	// binderSize is the HMAC-SHA-256 by which a resume hello proves its resumption
	// secret; maxTicketSize bounds the ticket a client echoes (ours are ticketSize).
	binderSize    = 32
	maxTicketSize = 512
)

var (
	kemScheme = hybridKEM{hybrid.X25519MLKEM768()}

	kemPublicKeySize  = kemScheme.PublicKeySize()  // 1216
	kemCiphertextSize = kemScheme.CiphertextSize() // 1120

	// clientHelloFixed is a new hello's body before padding: version, kind,
	// timestamp, key. A resume hello adds resumeHelloFixed and its ticket.
	clientHelloFixed = 1 + 1 + timestampSize + kemPublicKeySize
	// resumeHelloFixed: bytes received, ticket length, binder.
	resumeHelloFixed = 8 + 2 + binderSize
	// serverHelloFixed is the body before padding with an empty ticket: version,
	// kind, session ID, KEM ciphertext, ticket length, bytes received, signature.
	serverHelloFixed = 1 + 1 + len(ID{}) + kemCiphertextSize + 2 + 8 + ed25519.SignatureSize
)

// clientHelloBody is the sealed part of the client hello.
type clientHelloBody struct {
	kind      byte
	timestamp uint64
	publicKey []byte // kemPublicKeySize bytes
	// A resume hello's fields: how much of the gateway's stream the client has, the
	// ticket the gateway issued, and the binder that proves the resumption secret.
	received uint64
	ticket   []byte
	binder   []byte // binderSize bytes
	// ext are the client's hello extensions, at the start of the padding.
	ext helloExtensions
}

// size is the body's length without padding, extensions included.
func (b *clientHelloBody) size() int {
	n := clientHelloFixed
	if b.kind == kindResume {
		n += resumeHelloFixed + len(b.ticket)
	}
	return n + len(b.ext.marshal())
}

// appendBound appends the body's fields that a resume hello's binder covers: all but
// the binder and the padding.
func (b *clientHelloBody) appendBound(dst []byte) []byte {
	dst = append(dst, protocolVersion, b.kind)
	dst = binary.BigEndian.AppendUint64(dst, b.timestamp)
	dst = append(dst, b.publicKey...)
	if b.kind == kindResume {
		dst = binary.BigEndian.AppendUint64(dst, b.received)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(b.ticket)))
		dst = append(dst, b.ticket...)
	}
	return dst
}

// marshal appends the body, its extensions and padding zero bytes.
func (b *clientHelloBody) marshal(dst []byte, padding int) []byte {
	dst = b.appendBound(dst)
	if b.kind == kindResume {
		dst = append(dst, b.binder...)
	}
	dst = append(dst, b.ext.marshal()...)
	return append(dst, make([]byte, padding)...)
}

// parseClientHelloBody parses an opened client hello body and returns it with the
// length of the part a resume hello's binder covers. Slices alias p.
func parseClientHelloBody(p []byte) (b clientHelloBody, boundLen int, err error) {
	// The version first: the rest of the layout is the version's.
	if len(p) > 0 && p[0] != protocolVersion {
		return b, 0, fmt.Errorf("%w: %w: client hello version %d, want %d", errMalformed, errVersion, p[0], protocolVersion)
	}
	if len(p) < clientHelloFixed {
		return b, 0, fmt.Errorf("%w: client hello body of %d bytes, want at least %d", errMalformed, len(p), clientHelloFixed)
	}
	b.kind = p[1]
	b.timestamp = binary.BigEndian.Uint64(p[2:])
	b.publicKey = p[2+timestampSize : clientHelloFixed]
	switch b.kind {
	case kindNew:
		b.ext, _, err = parseExtensions(p[clientHelloFixed:])
		return b, clientHelloFixed, err
	case kindResume:
	default:
		return b, 0, fmt.Errorf("%w: client hello kind %d not supported", errMalformed, b.kind)
	}
	off := clientHelloFixed
	if len(p)-off < resumeHelloFixed {
		return b, 0, fmt.Errorf("%w: resume hello body of %d bytes, want at least %d", errMalformed, len(p), off+resumeHelloFixed)
	}
	b.received = binary.BigEndian.Uint64(p[off:])
	n := int(binary.BigEndian.Uint16(p[off+8:]))
	off += 10
	if n > maxTicketSize || len(p)-off < n+binderSize {
		return b, 0, fmt.Errorf("%w: resume hello ticket of %d bytes overruns the body or the limit of %d", errMalformed, n, maxTicketSize)
	}
	b.ticket = p[off : off+n]
	off += n
	b.binder = p[off : off+binderSize]
	b.ext, _, err = parseExtensions(p[off+binderSize:])
	return b, off, err
}

// serverHelloBody is the sealed part of the server hello.
type serverHelloBody struct {
	kind       byte
	id         ID
	ciphertext []byte // kemCiphertextSize bytes; zeros in a rejection
	ticket     []byte // the next resumption ticket; empty when the gateway keeps none
	received   uint64 // how much of the client's stream the gateway has (resume)
	signature  []byte // ed25519.SignatureSize bytes
	// ext are the gateway's hello extensions, after the signature, which covers
	// them through the transcript; extRaw is their encoding as received.
	ext    helloExtensions
	extRaw []byte
}

// appendSigned appends the fields the gateway's signature covers (all but the
// signature and the padding).
func (b *serverHelloBody) appendSigned(dst []byte) []byte {
	dst = append(dst, protocolVersion, b.kind)
	dst = append(dst, b.id[:]...)
	dst = append(dst, b.ciphertext...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(b.ticket)))
	dst = append(dst, b.ticket...)
	return binary.BigEndian.AppendUint64(dst, b.received)
}

func (b *serverHelloBody) marshal(dst []byte, padding int) []byte {
	dst = b.appendSigned(dst)
	dst = append(dst, b.signature...)
	dst = append(dst, b.ext.marshal()...)
	return append(dst, make([]byte, padding)...)
}

// parseServerHelloBody parses an opened server hello body and returns it with the
// length of its signed part. Slices alias p.
func parseServerHelloBody(p []byte) (b serverHelloBody, signedLen int, err error) {
	if len(p) > 0 && p[0] != protocolVersion {
		return b, 0, fmt.Errorf("%w: %w: server hello version %d, want %d", errMalformed, errVersion, p[0], protocolVersion)
	}
	if len(p) < serverHelloFixed {
		return b, 0, fmt.Errorf("%w: server hello body of %d bytes, want at least %d", errMalformed, len(p), serverHelloFixed)
	}
	b.kind = p[1]
	if b.kind != kindNew && b.kind != kindResume && b.kind != kindRejected {
		return b, 0, fmt.Errorf("%w: server hello kind %d not supported", errMalformed, b.kind)
	}
	off := 2
	off += copy(b.id[:], p[off:])
	b.ciphertext = p[off : off+kemCiphertextSize]
	off += kemCiphertextSize
	ticketLen := int(binary.BigEndian.Uint16(p[off:]))
	off += 2
	if len(p)-off < ticketLen+8+ed25519.SignatureSize {
		return b, 0, fmt.Errorf("%w: server hello ticket of %d bytes overruns the body", errMalformed, ticketLen)
	}
	b.ticket = p[off : off+ticketLen]
	off += ticketLen
	b.received = binary.BigEndian.Uint64(p[off:])
	off += 8
	b.signature = p[off : off+ed25519.SignatureSize]
	rest := p[off+ed25519.SignatureSize:]
	ext, n, err := parseExtensions(rest)
	if err != nil {
		return b, 0, err
	}
	b.ext, b.extRaw = ext, rest[:n]
	return b, off, nil
}

// appendEndpoint encodes what a hello is bound to: each field as a big-endian
// uint16 length and its bytes. Config checks keep every field under 64 KiB.
func appendEndpoint(dst []byte, ep Endpoint) []byte {
	for _, f := range [...]string{ep.Transport, ep.Address, ep.ServerName} {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

func checkEndpoint(ep Endpoint) error {
	for _, f := range [...]string{ep.Transport, ep.Address, ep.ServerName} {
		if len(f) > 0xffff {
			return fmt.Errorf("session: endpoint field of %d bytes is too long", len(f))
		}
	}
	return nil
}
