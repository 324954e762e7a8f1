package quicobfs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// A client's datagram that starts with an Initial packet, the kind that opens a QUIC
// connection, carries a stamp after the QUIC datagram, under the mask:
//
//	stamp = BE64(t) || HMAC-SHA256(S, salt || BE64(t))[0:16]
//
// with t the client's Unix time in seconds and S = HKDF-SHA256(key, info = stampInfo).
// The listener admits such a datagram only if its stamp authenticates, t is within
// freshness of its own clock, and its salt is new to the listener's replay filter, which
// remembers salts until t + freshness (across restarts, in a journal in the listener's
// state directory). So a copy of a client's first datagram, replayed seconds or minutes
// later as the GFW replays (Alice et al., IMC 2020), gets no QUIC answer: silence, as
// for any datagram that does not unmask. Every other datagram belongs to a connection
// quic-go has, or is dropped by it.
const (
	stampInfo    = "umbrella-edge/v2 quicobfs stamp"
	stampTagSize = 16
	stampSize    = 8 + stampTagSize
	// freshness is the session hello's window (docs/protocol.md, "Time"): quicobfs
	// turns away no client whose clock the session would accept.
	freshness = 2 * time.Minute
)

// isInitial reports whether p starts with a long-header Initial packet (RFC 9000
// section 17.2.2: header form 1, fixed bit 1, type 0).
func isInitial(p []byte) bool { return len(p) > 0 && p[0]&0xf0 == 0xc0 }

// sealStamped appends the masked form of packet followed by its stamp for now.
func (m *masker) sealStamped(dst, packet []byte, now time.Time) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, saltSize)...)
	newSalt(dst[n:])
	dst = append(dst, packet...)
	dst = m.appendStamp(dst, dst[n:n+saltSize], unixSeconds(now))
	m.xor(dst[n+saltSize:], dst[n+saltSize:], dst[n:n+saltSize])
	return dst
}

func (m *masker) appendStamp(dst, salt []byte, t uint64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, t)
	return append(dst, m.stampTag(salt, t)...)
}

func (m *masker) stampTag(salt []byte, t uint64) []byte {
	h := hmac.New(sha256.New, m.stampKey)
	h.Write(salt)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], t)
	h.Write(b[:])
	return h.Sum(nil)[:stampTagSize]
}

// admit checks the stamp of an unmasked Initial datagram (p, whose datagram began with
// salt) and returns the QUIC datagram without it, or false to drop it.
func (c *maskedConn) admit(p, salt []byte) ([]byte, bool) {
	if len(p) < minPacket+stampSize {
		return nil, false
	}
	packet, stamp := p[:len(p)-stampSize], p[len(p)-stampSize:]
	t := binary.BigEndian.Uint64(stamp)
	if !hmac.Equal(stamp[8:], c.m.stampTag(salt, t)) || !fresh(t, unixSeconds(c.now())) {
		return nil, false
	}
	var key [32]byte
	copy(key[:], salt)
	expiry := time.Unix(int64(t), 0).Add(freshness + time.Second)
	seen, err := c.filter.CheckAndAdd(context.Background(), key, expiry)
	if err != nil || seen {
		return nil, false // a replay, or one that cannot be checked: silence either way
	}
	return packet, plausible(packet)
}

func fresh(t, now uint64) bool {
	window := uint64(freshness / time.Second)
	return t+window >= now && t <= now+window
}

func unixSeconds(t time.Time) uint64 {
	if s := t.Unix(); s > 0 {
		return uint64(s)
	}
	return 0
}
