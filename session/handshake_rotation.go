package session

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"
	"time"
)

// Identity rotation (docs/protocol.md, "Identity rotation") travels in the hello
// extension of type extIdentity. The client lists the keys it accepts, so that the
// gateway signs with one of them; the gateway announces the key that replaces its
// identity, inside the transcript its signature covers, so that clients learn it
// before the switch and keep reaching the gateway after it with their old lines.
const (
	// keyIDSize is how much of a public key names it in the client's list: Ed25519
	// public keys are uniformly encoded points, so 64 bits tell a gateway's one or
	// two keys apart with certainty, and the list stays small.
	keyIDSize = 8
	// maxKeyIDs bounds the client's list: the pinned key, the line's next-key= and
	// one learned are all a client holds; the rest is room.
	maxKeyIDs = 8
)

// Rotation replaces a gateway's identity key with an overlap: until At the gateway
// signs with ServerConfig.Identity (or with Next, for a client that accepts only
// Next) and announces Next in every server hello; from At on Next is the identity,
// and a client that accepts only the old key fails as with a wrong key.
type Rotation struct {
	Next ed25519.PrivateKey
	At   time.Time
}

// identities returns, at now, the key the gateway signs with by default and the one
// it announces (nil when no rotation is under way).
func (c *ServerConfig) identities(now time.Time) (current, next ed25519.PrivateKey) {
	switch r := c.Rotation; {
	case r == nil || c.legacyIdentity:
		return c.Identity, nil
	case !now.Before(r.At):
		return r.Next, nil
	default:
		return c.Identity, r.Next
	}
}

// chooseSigner picks the key that answers a hello whose identity extension is ids:
// the first of the client's keys that the gateway holds, else current (a client from
// before rotation sends no list, and pinned the gateway's only key).
func (c *ServerConfig) chooseSigner(current, next ed25519.PrivateKey, ids []byte) ed25519.PrivateKey {
	if c.legacyIdentity {
		return c.Identity
	}
	for id := range slices.Chunk(ids, keyIDSize) {
		for _, k := range []ed25519.PrivateKey{current, next} {
			if k != nil && bytes.Equal(id, keyID(k.Public().(ed25519.PublicKey))) {
				return k
			}
		}
	}
	return current
}

func keyID(k ed25519.PublicKey) []byte { return k[:keyIDSize] }

// identityOffer is the client's identity extension: the IDs of the keys it accepts,
// preferred first.
func (c *ClientConfig) identityOffer(keys []ed25519.PublicKey) []byte {
	if c.legacyIdentity {
		return nil
	}
	var ids []byte
	for _, k := range keys[:min(len(keys), maxKeyIDs)] {
		ids = append(ids, keyID(k)...)
	}
	return ids
}

// checkIdentityOffer holds a client's identity extension to its rules.
func checkIdentityOffer(ids []byte) error {
	if ids != nil && (len(ids)%keyIDSize != 0 || len(ids) > maxKeyIDs*keyIDSize) {
		return fmt.Errorf("%w: identity extension of %d bytes", errMalformed, len(ids))
	}
	return nil
}

// announcedKey reads the gateway's identity extension: the next key, or nil.
func announcedKey(data []byte) (ed25519.PublicKey, error) {
	switch len(data) {
	case 0:
		return nil, nil
	case ed25519.PublicKeySize:
		return ed25519.PublicKey(clone(data)), nil
	}
	return nil, fmt.Errorf("%w: announced identity key of %d bytes", errMalformed, len(data))
}

// keys are the identity keys a client accepts, the pinned one first, without repeats.
func (c *ClientConfig) keys() []ed25519.PublicKey {
	out := []ed25519.PublicKey{c.GatewayKey}
	for _, k := range c.NextGatewayKeys {
		if !slices.ContainsFunc(out, func(o ed25519.PublicKey) bool { return bytes.Equal(o, k) }) {
			out = append(out, k)
		}
	}
	return out
}

// verifyServerHello returns the transcript hash and the key among keys whose
// signature sig is over it; a nil key when none is. The transcript names the signing
// key, so each key has its own.
func verifyServerHello(keys []ed25519.PublicKey, endpoint, hello, signed, sig []byte) ([]byte, ed25519.PublicKey) {
	for _, k := range keys {
		th := transcriptHash(k, endpoint, hello, signed)
		if ed25519.Verify(k, signatureMessage(th), sig) {
			return th, k
		}
	}
	return nil, nil
}

// ticketIdentity is the identity new tickets are issued under at now: the next one
// during an overlap, so that they still open after the switch.
func (c *ServerConfig) ticketIdentity(now time.Time) ed25519.PrivateKey {
	current, next := c.identities(now)
	if next != nil {
		return next
	}
	return current
}

// openTicket opens a ticket issued under the identity of now or, during an overlap,
// the next one: tickets from before the overlap open until the switch.
func (c *ServerConfig) openTicket(now time.Time, ticket []byte) (ticketContents, error) {
	current, next := c.identities(now)
	var err error
	for _, id := range []ed25519.PrivateKey{current, next} {
		if id == nil {
			continue
		}
		var key []byte
		if key, err = ticketKey(id); err != nil {
			return ticketContents{}, err
		}
		var t ticketContents
		if t, err = openTicket(key, ticket); err == nil {
			return t, nil
		}
	}
	return ticketContents{}, err
}
