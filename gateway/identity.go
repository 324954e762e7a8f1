package gateway

import (
	"crypto/ed25519"
	"time"
)

// lineKeys are the identity keys bridge lines printed at now carry: the identity and,
// during a rotation's overlap, the next one; after the switch the next one alone.
func (c *Config) lineKeys(now time.Time) (key, next ed25519.PublicKey) {
	r := c.Rotation
	switch {
	case r == nil:
		return c.Identity.Public().(ed25519.PublicKey), nil
	case now.Before(r.At):
		return c.Identity.Public().(ed25519.PublicKey), r.Next.Public().(ed25519.PublicKey)
	default:
		return r.Next.Public().(ed25519.PublicKey), nil
	}
}
