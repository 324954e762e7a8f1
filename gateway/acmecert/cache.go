package acmecert

import (
	"context"
	"crypto/tls"

	"golang.org/x/crypto/acme/autocert"
)

// watchedCache is autocert's cache with the Manager watching what is written to it:
// autocert stores each certificate the CA issued, first or renewed, before it serves
// it, and has no other way to tell. Listeners serve it from then on.
type watchedCache struct {
	autocert.Cache
	m *Manager
}

// Put stores data, and installs a managed domain's new certificate. Other keys are
// the account key and challenge tokens.
func (c watchedCache) Put(ctx context.Context, key string, data []byte) error {
	if err := c.Cache.Put(ctx, key, data); err != nil {
		return err
	}
	if !c.m.Manages(key) {
		return nil
	}
	// autocert writes the key and the chain as PEM blocks of one file; X509KeyPair
	// takes the certificates and the key from it, skipping the other blocks.
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		c.m.log.Error("certificate from the CA unreadable; keeping the one served", "domain", key, "err", err)
		return nil
	}
	c.m.install(key, &cert)
	if c.m.cfg.OnIssue != nil {
		c.m.cfg.OnIssue(key, cert.Leaf)
	}
	return nil
}
