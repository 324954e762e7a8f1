package client

import (
	"crypto/ed25519"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/session"
)

// A gateway rotating its identity key announces the next one in its sessions
// (session.Session.NextGatewayKey), signed with the key the bridge line pins. The
// client keeps it in the network memory's file, keyed by a salted hash of the pinned
// key, so that after the switch it still reaches the gateway with the bridge line it
// was given. Learned keys do not expire with the networks: a rotation's overlap may
// be longer than a week, and a key is only ever accepted beside the one it was
// learned under.

// learnKey keeps what sess, a session with the gateway of b, announced, if anything.
func (c *Client) learnKey(b bridge.Line, sess *session.Session) {
	next := sess.NextGatewayKey()
	if next == nil || next.Equal(b.NextKey) {
		return
	}
	if err := c.mem.learnKey(b.Key, next, c.cfg.Now()); err != nil {
		c.log.Warn("client: keep the gateway's next identity key", "err", err)
	}
}

// gatewayKeys are the keys besides b.Key that authenticate b's gateway: the line's
// next-key= and the one learned.
func (c *Client) gatewayKeys(b bridge.Line) []ed25519.PublicKey {
	keys := b.NextKeys()
	if k := c.mem.nextKey(b.Key); k != nil {
		keys = append(keys, k)
	}
	return keys
}

func (m *memory) learnKey(pinned, next ed25519.PublicKey, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, v := m.hashName("key", bridge.EncodeKey(pinned)), bridge.EncodeKey(next)
	if m.data.Keys[k] == v {
		return nil
	}
	if m.data.Keys == nil {
		m.data.Keys = map[string]string{}
	}
	m.data.Keys[k] = v
	return m.saveLocked(now)
}

func (m *memory) nextKey(pinned ed25519.PublicKey) ed25519.PublicKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data.Keys[m.hashName("key", bridge.EncodeKey(pinned))]
	if !ok {
		return nil
	}
	k, err := bridge.DecodeKey(v, ed25519.PublicKeySize)
	if err != nil {
		return nil // a file edited by hand: as if nothing was learned
	}
	return k
}
