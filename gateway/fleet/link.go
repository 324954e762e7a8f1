package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"time"
)

// The inter-edge link is mutual TLS 1.3 (docs/fleet.md says why not the session
// layer): each edge presents a certificate for its own link key, issued by a key
// every edge derives from the fleet's identity, and checks that the other's is one
// of those, for the edge it meant to reach, and not revoked. Go's TLS 1.3 agrees
// X25519MLKEM768 keys by default, so the link is post-quantum like the sessions.
const (
	linkALPN        = "umbrella-fleet/1"
	labelLinkCA     = "umbrella-edge/v1 fleet link ca"
	linkCertLife    = 365 * 24 * time.Hour // made afresh at every start
	linkDialTimeout = 2 * time.Second      // a live edge answers in a round trip
	// linkHandshake bounds an accepted link connection's TLS handshake and request.
	linkHandshake = 5 * time.Second
)

// ErrLink wraps the reasons a link peer's certificate is refused.
var ErrLink = errors.New("fleet: link peer refused")

type link struct {
	ln      net.Listener
	public  string
	cert    tls.Certificate
	ca      ed25519.PublicKey
	revoked *revocations
	log     *slog.Logger
}

// linkCA derives the key that certifies the edges' link keys from the identity's
// seed, as the ticket key is: every edge holding the identity has it, and HKDF's
// label keeps it apart from the identity's own signatures.
func linkCA(identity ed25519.PrivateKey) (ed25519.PrivateKey, error) {
	seed, err := hkdf.Key(sha256.New, identity.Seed(), nil, labelLinkCA, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("fleet: derive link CA: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// linkCertificate certifies key as edge's link key, under ca.
func linkCertificate(edge string, key, ca ed25519.PrivateKey, now time.Time) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: edge},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(linkCertLife),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	parent := &x509.Certificate{Subject: pkix.Name{CommonName: "umbrella fleet link CA"}, PublicKey: ca.Public()}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), ca)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fleet: link certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func listenLink(ctx context.Context, cfg *Config, revoked *revocations, log *slog.Logger) (*link, error) {
	ca, err := linkCA(cfg.Identity)
	if err != nil {
		return nil, err
	}
	cert, err := linkCertificate(cfg.Edge, cfg.LinkKey, ca, time.Now())
	if err != nil {
		return nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Link)
	if err != nil {
		return nil, fmt.Errorf("fleet: link: %w", err)
	}
	public := cfg.LinkPublic
	if public == "" {
		public = ln.Addr().String()
	}
	return &link{ln: ln, public: public, cert: cert, ca: ca.Public().(ed25519.PublicKey), revoked: revoked, log: log}, nil
}

func (l *link) close() { l.ln.Close() }

// verify checks a link peer's certificate, whatever the chain Go would build: it
// must be signed by the fleet's link CA, valid now, for a link key not revoked, and,
// when want is not empty, name that edge. It returns the edge it names.
func (l *link) verify(raw [][]byte, want string) (string, error) {
	if len(raw) == 0 {
		return "", fmt.Errorf("%w: no certificate", ErrLink)
	}
	cert, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrLink, err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	switch now := time.Now(); {
	case cert.SignatureAlgorithm != x509.PureEd25519 || !ed25519.Verify(l.ca, cert.RawTBSCertificate, cert.Signature):
		return "", fmt.Errorf("%w: certificate of %q not issued by this fleet", ErrLink, cert.Subject.CommonName)
	case now.Before(cert.NotBefore) || now.After(cert.NotAfter):
		return "", fmt.Errorf("%w: certificate of %q not valid now", ErrLink, cert.Subject.CommonName)
	case !ok:
		return "", fmt.Errorf("%w: certificate of %q holds no Ed25519 key", ErrLink, cert.Subject.CommonName)
	case l.revoked.has(KeyID(pub)):
		return "", fmt.Errorf("%w: the link key of %q is revoked", ErrLink, cert.Subject.CommonName)
	case want != "" && cert.Subject.CommonName != want:
		return "", fmt.Errorf("%w: reached %q, wanted %q", ErrLink, cert.Subject.CommonName, want)
	}
	return cert.Subject.CommonName, nil
}

// tlsConfig is the link's TLS for one side; a client names the edge it dials. Go's
// own chain check is off (InsecureSkipVerify) because verify replaces it: the
// handshake still proves that the peer holds its certificate's key.
func (l *link) tlsConfig(server bool, edge string) *tls.Config {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{l.cert},
		NextProtos:         []string{linkALPN},
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := l.verify(raw, edge)
			return err
		},
	}
	if server {
		c.ClientAuth = tls.RequireAnyClientCert
	}
	return c
}

// dial opens a link to edge at addr.
func (l *link) dial(ctx context.Context, edge, addr string) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, linkDialTimeout)
	defer cancel()
	d := tls.Dialer{Config: l.tlsConfig(false, edge)}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fleet: link to %s at %s: %w", edge, addr, err)
	}
	return c.(*tls.Conn), nil
}

// peerEdge is the edge a link connection's verified certificate names.
func peerEdge(c *tls.Conn) string {
	if certs := c.ConnectionState().PeerCertificates; len(certs) > 0 {
		return certs[0].Subject.CommonName
	}
	return ""
}
