// Package acmecert keeps a gateway's TLS certificates from an ACME CA (Let's Encrypt,
// or a test CA such as Pebble): it obtains them at start, through the gateway's own TLS
// listeners (tls-alpn-01) or an HTTP port (http-01), and renews them while running.
// It is golang.org/x/crypto/acme/autocert with the gateway's rules around it; it is not
// a general ACME client.
package acmecert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncrypt is the directory of Let's Encrypt's production CA, the default.
const LetsEncrypt = autocert.DefaultACMEDirectory

// Retries of a failed first issuance: the first after retryFirst, doubling up to
// retryMax. Let's Encrypt allows 5 failed validations per account and hostname an
// hour (letsencrypt.org/docs/rate-limits, "Authorization Failures per Identifier per
// Account"); 2, 4, 8, 16 and 32 minutes make 5 in the first hour, and one an hour after.
const (
	retryFirst = 2 * time.Minute
	retryMax   = time.Hour
)

// Config is what a Manager needs.
type Config struct {
	// Domains are the names to hold certificates for: the servername= of the TLS
	// listeners that serve them. Required.
	Domains []string
	// Email is the contact the CA writes to about expiring certificates; optional.
	Email string
	// Directory is the CA's ACME directory URL; empty means LetsEncrypt.
	Directory string
	// Roots verify the directory's own HTTPS; nil means the system's roots. Only a
	// test CA (Pebble) needs them.
	Roots *x509.CertPool
	// CacheDir keeps the ACME account key and the certificates across restarts
	// (files mode 0600 in a directory mode 0700); required, or every restart would
	// ask the CA again and soon meet its rate limits.
	CacheDir string
	// RenewBefore is how long before expiry a certificate is renewed; 0 means a third
	// of its lifetime, at most 30 days (autocert's default, Let's Encrypt's advice).
	RenewBefore time.Duration
	// Logger receives issuance, renewal and failures; nil discards them.
	Logger *slog.Logger
	// OnIssue, if set, is called after each certificate the CA issued, first or
	// renewed, once the listeners serve it.
	OnIssue func(domain string, leaf *x509.Certificate)
}

// Manager holds the certificates of Config.Domains. It is a transports.CertSource.
type Manager struct {
	cfg  Config
	auto *autocert.Manager
	log  *slog.Logger

	mu    sync.RWMutex
	certs map[string]*tls.Certificate // what listeners serve, by domain
}

// New returns a Manager; Run obtains the certificates.
func New(cfg Config) (*Manager, error) {
	if len(cfg.Domains) == 0 {
		return nil, errors.New("acme: no domains")
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("acme: no cache directory")
	}
	for _, d := range cfg.Domains {
		if !strings.Contains(strings.Trim(d, "."), ".") {
			return nil, fmt.Errorf("acme: domain %q: want a DNS name such as www.example.com", d)
		}
	}
	if cfg.Directory == "" {
		cfg.Directory = LetsEncrypt
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := &Manager{cfg: cfg, log: log.With("acme", cfg.Directory), certs: make(map[string]*tls.Certificate)}
	httpClient := &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{RootCAs: cfg.Roots},
		TLSHandshakeTimeout: 30 * time.Second,
	}}
	m.auto = &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       watchedCache{autocert.DirCache(cfg.CacheDir), m},
		HostPolicy:  autocert.HostWhitelist(cfg.Domains...),
		RenewBefore: cfg.RenewBefore,
		// The user agent stays autocert's own: many Go servers send it, and the CA
		// need not learn which software this is.
		Client: &acme.Client{DirectoryURL: cfg.Directory, HTTPClient: httpClient},
		Email:  cfg.Email,
	}
	return m, nil
}

// Manages reports whether name is one of the Manager's domains.
func (m *Manager) Manages(name string) bool { return slices.Contains(m.cfg.Domains, name) }

// Certificate returns name's current certificate, nil until the CA issued one.
func (m *Manager) Certificate(name string) *tls.Certificate {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.certs[name]
}

// Challenge answers the CA's tls-alpn-01 validation hello while a challenge for its
// server name is pending.
func (m *Manager) Challenge(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !m.Manages(strings.TrimSuffix(hello.ServerName, ".")) {
		return nil, fmt.Errorf("acme: %q is not a managed name", hello.ServerName)
	}
	return m.auto.GetCertificate(hello)
}

// HTTPHandler answers the CA's http-01 validation requests, which come to port 80,
// and passes every other request to fallback. Without it only tls-alpn-01 is tried.
func (m *Manager) HTTPHandler(fallback http.Handler) http.Handler {
	h := m.auto.HTTPHandler(fallback)
	// autocert checks the Host header, port included, against the domains; a CA
	// that validates on another port than 80 (a test CA) names it there.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r = r.Clone(r.Context())
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}

// Run obtains a certificate for each domain that has no valid one in the cache,
// retrying a failure with backoff, and returns when all are held or ctx is done.
// Call it once the listeners accept: the CA validates through them. Renewals then run
// on their own timers for as long as the process lives.
func (m *Manager) Run(ctx context.Context) error {
	for _, d := range m.cfg.Domains {
		if err := m.obtain(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) obtain(ctx context.Context, domain string) error {
	wait := retryFirst
	for {
		cert, err := m.fetch(ctx, domain)
		if err == nil {
			m.installFirst(domain, cert)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.log.Warn("certificate not obtained; listeners serve a self-signed one meanwhile", "domain", domain, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
	}
}

// fetch asks autocert for domain's certificate with a hello every client of ours
// sends (ECDSA P-256), so the CA is asked for one ECDSA certificate per name and
// never, as autocert would for an old client's hello, for an RSA one besides. The
// issuance runs under autocert's own deadline; ctx only stops the wait.
func (m *Manager) fetch(ctx context.Context, domain string) (*tls.Certificate, error) {
	hello := &tls.ClientHelloInfo{
		ServerName:       domain,
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:  []tls.CurveID{tls.CurveP256},
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
	type result struct {
		cert *tls.Certificate
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := m.auto.GetCertificate(hello)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.cert, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// installFirst makes cert, found in the cache or just issued, the one listeners serve
// for domain, unless they serve one already: a renewal that autocert started at once
// for a cached certificate near its end may have installed its successor first.
func (m *Manager) installFirst(domain string, cert *tls.Certificate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.certs[domain] != nil {
		return
	}
	m.certs[domain] = cert
	m.log.Info("certificate loaded", "domain", domain, "issuer", cert.Leaf.Issuer.CommonName,
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

// install makes cert, which the CA just issued, the one listeners serve for domain.
func (m *Manager) install(domain string, cert *tls.Certificate) {
	m.mu.Lock()
	what := "certificate issued"
	if m.certs[domain] != nil {
		what = "certificate renewed"
	}
	m.certs[domain] = cert
	m.mu.Unlock()
	m.log.Info(what, "domain", domain, "issuer", cert.Leaf.Issuer.CommonName,
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
}
