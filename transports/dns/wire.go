package dns

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20"
)

// The tunnel's wire format, inside ordinary DNS messages.
//
// Upstream, a query's name is the base32 (RFC 4648 alphabet, lower case, no padding)
// of one message, cut into labels of at most 63 characters, under the tunnel's domain:
//
//	nonce [4] | masked( clientID [8] | { length [1] | packet }… )
//
// Downstream, the TXT record answering it holds, across its character strings:
//
//	masked( { length [2, big-endian] | packet }… )
//
// A packet is one KCP segment. The nonce is random per query: it makes every name
// unique (a resolver never answers a retransmission from its cache) and keys the mask,
// a ChaCha20 keystream under a key derived from the domain, so that neither a carrier's
// client ID nor KCP's headers repeat from name to name. The mask hides structure, not
// content: anyone who knows the domain can remove it; the session layer above is what
// encrypts.

const (
	nonceSize    = 4
	clientIDSize = 8
	// maxNameWire is the longest name in wire format (RFC 1035 section 2.3.4).
	maxNameWire = 255
	// maxLabel is the longest label (RFC 1035 section 2.3.4).
	maxLabel = 63
	// upHeader is what every upstream message carries before its packets.
	upHeader = nonceSize + clientIDSize
	// maxUpPacket is the longest packet a one-byte length can frame.
	maxUpPacket = 255
)

// A clientID names one carrier's tunnel on the server; it is random per Dial.
type clientID [clientIDSize]byte

func (id clientID) String() string { return fmt.Sprintf("%x", id[:]) }

// Network implements net.Addr: a server-side carrier's remote address is its tunnel,
// not an IP (the peer the server sees is the resolver, shared by many users).
func (id clientID) Network() string { return Name }

// encoding is base32 without padding, in lower case as names are usually written.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

var (
	// errNotTunnel is returned for a name under the domain that does not decode as an
	// upstream message: it names nothing, and the server answers NXDOMAIN.
	errNotTunnel = errors.New("not a tunnel name")
	// errTooLong is returned when packets do not fit one message.
	errTooLong = errors.New("packets too long for one message")
)

// A masker turns the mask on and off for one domain. It is safe for concurrent use.
type masker struct{ key [32]byte }

func newMasker(domain string) *masker {
	return &masker{key: sha256.Sum256([]byte("umbrella-edge dns mask\x00" + canonical(domain)))}
}

// Directions of the mask's keystream, so the two directions never share one.
const (
	dirUp   = 0
	dirDown = 1
)

// xor masks or unmasks b in place with the keystream for nonce and dir.
func (m *masker) xor(nonce [nonceSize]byte, dir byte, b []byte) {
	var n [chacha20.NonceSize]byte
	copy(n[:], nonce[:])
	n[nonceSize] = dir
	c, err := chacha20.NewUnauthenticatedCipher(m.key[:], n[:])
	if err != nil {
		panic(err) // key and nonce sizes are constants
	}
	c.XORKeyStream(b, b)
}

// An upstream is one decoded query message.
type upstream struct {
	nonce   [nonceSize]byte
	id      clientID
	packets [][]byte
}

// nameCapacity returns how many bytes of message (header and packets) a name under
// domain can carry; domain is in canonical form ("t.example.org").
func nameCapacity(domain string) int {
	budget := maxNameWire - wireLen(domain)
	chars := (budget / (maxLabel + 1)) * maxLabel
	if rest := budget % (maxLabel + 1); rest > 1 {
		chars += rest - 1
	}
	return chars * 5 / 8
}

// wireLen is the length of a canonical name in wire format, the root label included.
func wireLen(domain string) int {
	if domain == "" {
		return 1
	}
	return len(domain) + 2
}

// encodeName returns the query name (fully qualified) carrying packets from id under
// domain, masked by m with nonce. It fails with errTooLong when they do not fit.
func encodeName(m *masker, domain string, nonce [nonceSize]byte, id clientID, packets [][]byte) (string, error) {
	msg := make([]byte, upHeader, nameCapacity(domain))
	copy(msg, nonce[:])
	copy(msg[nonceSize:], id[:])
	for _, p := range packets {
		if len(p) > maxUpPacket || len(msg)+1+len(p) > cap(msg) {
			return "", errTooLong
		}
		msg = append(msg, byte(len(p)))
		msg = append(msg, p...)
	}
	m.xor(nonce, dirUp, msg[nonceSize:])
	text := encoding.EncodeToString(msg)
	var b strings.Builder
	b.Grow(len(text) + len(text)/maxLabel + len(domain) + 2)
	labels := (len(text) + maxLabel - 1) / maxLabel
	for i := range labels {
		// Labels of nearly equal length, rather than 63, 63, then a short one.
		from, to := i*len(text)/labels, (i+1)*len(text)/labels
		b.WriteString(text[from:to])
		b.WriteByte('.')
	}
	b.WriteString(domain)
	if domain != "" {
		b.WriteByte('.')
	}
	return b.String(), nil
}

// decodeName decodes the labels of name that precede domain (both canonical: lower
// case, no final dot). A name that is not domain or below it is not the caller's to
// decode; the caller checks that first (see inZone).
func decodeName(m *masker, prefix string) (upstream, error) {
	text := strings.ReplaceAll(prefix, ".", "")
	if text == "" || len(text) > maxNameWire {
		return upstream{}, errNotTunnel
	}
	msg, err := encoding.DecodeString(text)
	if err != nil || len(msg) < upHeader {
		return upstream{}, errNotTunnel
	}
	var u upstream
	copy(u.nonce[:], msg)
	body := msg[nonceSize:]
	m.xor(u.nonce, dirUp, body)
	copy(u.id[:], body)
	for rest := body[clientIDSize:]; len(rest) > 0; {
		n := int(rest[0])
		if n == 0 || 1+n > len(rest) {
			return upstream{}, errNotTunnel
		}
		u.packets = append(u.packets, rest[1:1+n])
		rest = rest[1+n:]
	}
	return u, nil
}

// downstream packing: each packet with a two-byte length.
const downFrame = 2

// packDown appends packets, framed and masked for the query with nonce, to dst.
func packDown(m *masker, nonce [nonceSize]byte, packets [][]byte) []byte {
	size := 0
	for _, p := range packets {
		size += downFrame + len(p)
	}
	b := make([]byte, 0, size)
	for _, p := range packets {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	m.xor(nonce, dirDown, b)
	return b
}

// unpackDown unmasks b (in place) and splits it into packets, which alias b.
func unpackDown(m *masker, nonce [nonceSize]byte, b []byte) ([][]byte, error) {
	m.xor(nonce, dirDown, b)
	var packets [][]byte
	for len(b) > 0 {
		if len(b) < downFrame {
			return nil, errors.New("truncated packet length")
		}
		n := int(binary.BigEndian.Uint16(b))
		if n == 0 || downFrame+n > len(b) {
			return nil, fmt.Errorf("packet of %d bytes in %d", n, len(b)-downFrame)
		}
		packets = append(packets, b[downFrame:downFrame+n])
		b = b[downFrame+n:]
	}
	return packets, nil
}

// canonical is name in lower case without its final dot: how names are compared.
func canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// inZone reports whether the canonical name is zone or below it, and returns the
// labels before zone ("" for the apex).
func inZone(name, zone string) (prefix string, ok bool) {
	if name == zone {
		return "", true
	}
	if zone == "" {
		return name, true
	}
	if strings.HasSuffix(name, "."+zone) {
		return name[:len(name)-len(zone)-1], true
	}
	return "", false
}
