package session

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// A resumption ticket is opaque to the client: the gateway seals, under a key only it
// has, the session's ID and the resumption secret of the carrier it was issued on.
//
//	ticket = nonce (24) || XChaCha20-Poly1305(ticket key, nonce, plaintext, aad = label)
//	plaintext = version (1) || session ID (16) || resumption secret (32) || BE64(issued)
const (
	ticketPlainSize = 1 + len(ID{}) + 32 + 8
	ticketSize      = chacha20poly1305.NonceSizeX + ticketPlainSize + tagSize
	ticketVersion   = 1
)

type ticketContents struct {
	id     ID
	rs     [32]byte
	issued uint64 // Unix seconds; for the logs of whoever debugs, never checked
}

// ticketKey derives the gateway's ticket key from its identity, so that every edge
// holding the identity (and a restarted one) opens its tickets: a gateway that no
// longer has a session can then tell the client so, signed, instead of looking like a
// blocked carrier. HKDF's label keeps it apart from the signing use of the seed.
func ticketKey(identity ed25519.PrivateKey) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, identity.Seed(), nil, labelTicketKey, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive ticket key: %w", err)
	}
	return k, nil
}

func sealTicket(key []byte, t ticketContents) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("seal ticket: %w", err)
	}
	out := make([]byte, chacha20poly1305.NonceSizeX, ticketSize)
	rand.Read(out)
	plain := make([]byte, 0, ticketPlainSize)
	plain = append(plain, ticketVersion)
	plain = append(plain, t.id[:]...)
	plain = append(plain, t.rs[:]...)
	plain = binary.BigEndian.AppendUint64(plain, t.issued)
	return aead.Seal(out, out, plain, []byte(labelTicket)), nil
}

// openTicket authenticates and parses a ticket; anything but one of ours fails.
func openTicket(key, ticket []byte) (ticketContents, error) {
	var t ticketContents
	if len(ticket) != ticketSize {
		return t, fmt.Errorf("%w: ticket of %d bytes, want %d", errMalformed, len(ticket), ticketSize)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return t, fmt.Errorf("open ticket: %w", err)
	}
	nonce := ticket[:chacha20poly1305.NonceSizeX]
	plain, err := aead.Open(nil, nonce, ticket[len(nonce):], []byte(labelTicket))
	if err != nil {
		return t, fmt.Errorf("%w: ticket does not authenticate", errMalformed)
	}
	if plain[0] != ticketVersion {
		return t, fmt.Errorf("%w: ticket version %d", errMalformed, plain[0])
	}
	off := 1 + copy(t.id[:], plain[1:])
	off += copy(t.rs[:], plain[off:])
	t.issued = binary.BigEndian.Uint64(plain[off:])
	return t, nil
}

func issueTicket(identity ed25519.PrivateKey, id ID, rs [32]byte, now time.Time) ([]byte, error) {
	key, err := ticketKey(identity)
	if err != nil {
		return nil, err
	}
	return sealTicket(key, ticketContents{id: id, rs: rs, issued: unixSeconds(now)})
}
