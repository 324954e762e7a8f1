package session

import (
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// The key schedule. Every label is listed in docs/protocol.md; changing one is a
// protocol version change. A label names the version that introduced it: the mark and
// hello labels are the envelope every version shares, so they stay "v1".
const (
	labelMarkKey     = "umbrella-edge/v1 mark key"
	labelMark        = "umbrella-edge/v1 mark"
	labelHello       = "umbrella-edge/v1 hello"
	labelServerHello = "umbrella-edge/v2 server hello"
	labelReplay      = "umbrella-edge/v1 replay"
	labelTranscript  = "umbrella-edge/v2 transcript"
	labelSignature   = "umbrella-edge/v1 server signature"
	labelSession     = "umbrella-edge/v1 session"
	labelResumption  = "umbrella-edge/v1 resumption"
	labelBinder      = "umbrella-edge/v1 binder"
	labelTicketKey   = "umbrella-edge/v1 ticket key"
	labelTicket      = "umbrella-edge/v1 ticket"
)

const (
	// freshness is how far a hello's timestamp may be from the gateway's clock. Two
	// minutes absorbs phone clocks that drift without making the replay cache large.
	freshness = 2 * time.Minute
	// slotSeconds is the granularity of the time slot in the mark. The gateway tries
	// every slot that overlaps now ± freshness: five of them.
	slotSeconds = 60
)

func slotOf(unix uint64) uint64 { return unix / slotSeconds }

// marker computes marks under one bridge secret's mark key, reusing its HMAC state
// across slots.
type marker struct{ h hash.Hash }

func newMarker(s *Secret) (marker, error) {
	// A bridge secret is 32 uniformly random bytes, so it serves as HKDF's
	// pseudorandom key directly (RFC 5869, section 3.3): one HMAC less per secret on
	// the path that rejects garbage.
	k, err := hkdf.Expand(sha256.New, s[:], labelMarkKey, 32)
	if err != nil {
		return marker{}, fmt.Errorf("derive mark key: %w", err)
	}
	h := hmac.New(sha256.New, k)
	h.Reset() // keeps the keyed state, so each later Reset restores it instead of keying again
	return marker{h}, nil
}

// Marks keeps each bridge secret's keyed mark HMAC for a gateway's life, so a hello
// costs only its marks, not a mark key's derivation and an HMAC's keying per secret:
// a third of the work of rejecting garbage. The zero value is ready; it is safe for
// concurrent use.
type Marks struct {
	mu    sync.Mutex
	keyed map[Secret]hash.Hash // only ever cloned once stored
}

// maxMarks bounds a Marks: a gateway has a few secrets, and one that cycles through
// more (a fleet's revocations) starts the cache over rather than grow it.
const maxMarks = 64

// marker returns a marker of its own for s. A nil m derives one.
func (m *Marks) marker(s *Secret) (marker, error) {
	if m == nil {
		return newMarker(s)
	}
	m.mu.Lock()
	h, ok := m.keyed[*s]
	m.mu.Unlock()
	if !ok {
		fresh, err := newMarker(s)
		if err != nil {
			return marker{}, err
		}
		h = fresh.h
		m.mu.Lock()
		if m.keyed == nil || len(m.keyed) >= maxMarks {
			m.keyed = make(map[Secret]hash.Hash)
		}
		m.keyed[*s] = h
		m.mu.Unlock()
	}
	c, ok := h.(hash.Cloner)
	if !ok {
		return newMarker(s)
	}
	dup, err := c.Clone()
	if err != nil {
		return newMarker(s) // a hash that cannot clone (BoringCrypto's): key it again
	}
	return marker{dup}, nil
}

// mark is HMAC(markKey, label || R || slot || endpoint), truncated.
func (m marker) mark(random []byte, slot uint64, endpoint []byte) (out [markSize]byte) {
	m.h.Reset()
	m.h.Write([]byte(labelMark))
	m.h.Write(random)
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], slot)
	m.h.Write(s[:])
	m.h.Write(endpoint)
	var sum [sha256.Size]byte
	copy(out[:], m.h.Sum(sum[:0]))
	return out
}

// helloKeys seal the client hello, and hold the base from which each server hello's
// key is derived. They come from the bridge secret and the client's R and MARK, so the
// server hello is unreadable to anyone without the secret too.
type helloKeys struct {
	client     cipher.AEAD
	clientMask [2]byte
	serverBase []byte
	material   [helloKeySize]byte // HK, which an edge hands on with a relayed hello
}

// helloKeySize is the length of the hello key material HK.
const helloKeySize = 2*chacha20poly1305.KeySize + 4

func deriveHelloKeys(s *Secret, random, mark []byte) (k helloKeys, err error) {
	salt := make([]byte, 0, randomSize+markSize)
	salt = append(append(salt, random...), mark...)
	okm, err := hkdf.Key(sha256.New, s[:], salt, labelHello, helloKeySize)
	if err != nil {
		return k, fmt.Errorf("derive hello keys: %w", err)
	}
	return helloKeysFrom(okm)
}

// helloKeysFrom lays the hello keys out of their material HK.
func helloKeysFrom(okm []byte) (k helloKeys, err error) {
	if k.client, err = chacha20poly1305.New(okm[:32]); err != nil {
		return k, fmt.Errorf("derive hello keys: %w", err)
	}
	copy(k.clientMask[:], okm[64:66])
	// Bytes 32-64 and 66-68 were the server hello's key and mask in version 1.
	k.serverBase = concat(okm[32:64], okm[66:68])
	copy(k.material[:], okm)
	return k, nil
}

// serverHelloKeys derive one server hello's key and length mask from the hello keys'
// base and that answer's fresh random prefix: two answers to one client hello (a
// replay a restarted gateway could not recognise) never share a key, so a nonce of
// zero is never used twice under one key.
func (k *helloKeys) serverHelloKeys(serverRandom []byte) (cipher.AEAD, [2]byte, error) {
	var mask [2]byte
	okm, err := hkdf.Key(sha256.New, k.serverBase, serverRandom, labelServerHello, chacha20poly1305.KeySize+2)
	if err != nil {
		return nil, mask, fmt.Errorf("derive server hello key: %w", err)
	}
	aead, err := chacha20poly1305.New(okm[:32])
	if err != nil {
		return nil, mask, fmt.Errorf("derive server hello key: %w", err)
	}
	copy(mask[:], okm[32:])
	return aead, mask, nil
}

// maskedLen and unmaskLen hide a hello's length field from an observer.
func maskedLen(n int, mask [2]byte) [2]byte {
	return [2]byte{byte(n>>8) ^ mask[0], byte(n) ^ mask[1]}
}

func unmaskLen(b []byte, mask [2]byte) int {
	return int(b[0]^mask[0])<<8 | int(b[1]^mask[1])
}

// replayKey names a hello in the replay cache. R alone would do; MARK is included so a
// key never repeats across secrets or endpoints.
func replayKey(random, mark []byte) (k [32]byte) {
	h := sha256.New()
	h.Write([]byte(labelReplay))
	h.Write(random)
	h.Write(mark)
	h.Sum(k[:0])
	return k
}

// transcriptHash binds the gateway's identity, the endpoint, the whole client hello as
// sent, and the server hello's random prefix and signed fields (serverSigned; nil for
// the resumption secret's salt, which cannot depend on the server hello).
func transcriptHash(gatewayKey ed25519.PublicKey, endpoint, clientHello, serverSigned []byte) []byte {
	h := sha256.New()
	h.Write([]byte(labelTranscript))
	h.Write(gatewayKey)
	for _, part := range [...][]byte{endpoint, clientHello, serverSigned} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return h.Sum(nil)
}

func signatureMessage(transcript []byte) []byte {
	return append([]byte(labelSignature), transcript...)
}

// sessionKeys protect records: per direction, an AEAD key and a key for the
// length-mask keystream, and the AEAD the hellos agreed on.
type sessionKeys struct {
	c2s, c2sMask, s2c, s2cMask []byte
	aead                       aeadID
}

// deriveSessionKeys mixes the hybrid KEM secret and a pre-shared key, salted with the
// transcript hash. The pre-shared key is the bridge secret for a new session, so that
// breaking it needs both the KEM and the bridge secret, and the resumption secret for
// a resumed one, so that only the holder of the session's last keys can resume it.
func deriveSessionKeys(shared, psk, transcript []byte) (sessionKeys, error) {
	okm, err := hkdf.Key(sha256.New, concat(shared, psk), transcript, labelSession, 4*32)
	if err != nil {
		return sessionKeys{}, fmt.Errorf("derive session keys: %w", err)
	}
	return sessionKeys{c2s: okm[0:32], c2sMask: okm[32:64], s2c: okm[64:96], s2cMask: okm[96:128], aead: aeadChaCha20Poly1305}, nil
}

// resumptionSecret is the secret of the ticket issued on this carrier. Its salt is
// the transcript without the server hello (which carries the ticket, so cannot be
// an input to it); it still depends on the fresh KEM secret.
func resumptionSecret(shared, psk, salt []byte) (rs [32]byte, err error) {
	okm, err := hkdf.Key(sha256.New, concat(shared, psk), salt, labelResumption, len(rs))
	if err != nil {
		return rs, fmt.Errorf("derive resumption secret: %w", err)
	}
	copy(rs[:], okm)
	return rs, nil
}

// binder is a resume hello's proof of the resumption secret: an HMAC over the hello's
// prefix and its body up to the binder, under a key expanded from the secret (which
// is uniformly random, so it serves as the PRK).
func binder(rs *[32]byte, prefix, bound []byte) ([]byte, error) {
	k, err := hkdf.Expand(sha256.New, rs[:], labelBinder, 32)
	if err != nil {
		return nil, fmt.Errorf("derive binder key: %w", err)
	}
	m := hmac.New(sha256.New, k)
	m.Write(prefix)
	m.Write(bound)
	return m.Sum(nil), nil
}

func concat(a, b []byte) []byte {
	return append(append(make([]byte, 0, len(a)+len(b)), a...), b...)
}
