package session

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"sync"
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

// maxIssued bounds the tickets a session honours beside the one its client is known
// to hold. Each answers a resume hello that presented that one: the client's own
// resumes that it gave up on while the hello was on its way (a deadline, a turn passed
// to another carrier) and the one that worked. A hello is fresh for 120 s and a client
// sends one at a time, under backoff after each failed round, so 16 outlasts any
// honest client; past it the oldest goes.
const maxIssued = 16

// ticketBook is a gateway session's record of the tickets its client may hold: the
// one it is known to hold, and those issued since in exchange for it. The client
// keeps only the ticket of its last resume that it completed, so the gateway cannot
// tell which of those issued it holds until it hears from the client on a carrier
// one came on, or sees one presented.
type ticketBook struct {
	mu     sync.Mutex
	held   *[32]byte  // nil until the first frame of a new session
	issued [][32]byte // oldest first
}

// start records the ticket of a new session. The returned func, called at the
// client's first frame on its carrier, makes it the one held.
func (b *ticketBook) start(rs *[32]byte) (confirm func()) {
	b.mu.Lock()
	b.issued = append(b.issued[:0], *rs)
	b.mu.Unlock()
	return b.confirmer(*rs)
}

// redeem reports whether rs is the secret of a ticket the session honours and, if
// so, records next as issued in its place, in one step: two resume hellos of one
// session may be answered at once. A ticket presented is one the client held when it
// sent the hello, so the tickets older than it are spent, and so are those issued
// beside it, which the client never read. The returned func, called at the client's
// first frame on the carrier next was sent on, spends every other ticket.
func (b *ticketBook) redeem(rs, next *[32]byte) (confirm func(), ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch i := b.find(rs); {
	case b.held != nil && subtle.ConstantTimeCompare(b.held[:], rs[:]) == 1:
		// The client may not have read any ticket issued since: keep them all.
	case i >= 0:
		b.held, b.issued = new(*rs), b.issued[:0]
	default:
		return nil, false
	}
	if len(b.issued) == maxIssued {
		b.issued = append(b.issued[:0], b.issued[1:]...)
	}
	b.issued = append(b.issued, *next)
	return b.confirmer(*next), true
}

// confirmer returns the func that makes rs the ticket held, if it is still one
// issued: the client's frame on rs's carrier proves it read rs.
func (b *ticketBook) confirmer(rs [32]byte) func() {
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.find(&rs) >= 0 {
			b.held, b.issued = &rs, b.issued[:0]
		}
	}
}

func (b *ticketBook) find(rs *[32]byte) int {
	at := -1
	for i := range b.issued {
		if subtle.ConstantTimeCompare(b.issued[i][:], rs[:]) == 1 {
			at = i
		}
	}
	return at
}
