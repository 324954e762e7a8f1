package censor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// MITM terminates TLS for chosen names with a certificate from the censor's own root
// CA and re-originates TLS to the server, as Kazakhstan did in 2019 (Raman et al., IMC
// 2020) with a root it asked citizens to install. A client that trusts CACertPEM sees
// a valid certificate; one that pins its server's key notices.
type MITM struct {
	Scope
	// Names are intercepted (with their subdomains); "*" intercepts every TLS flow.
	Names []string
	// Verify checks the server's certificate against the system roots when
	// re-originating. Off by default: lab servers have self-signed certificates.
	Verify bool
}

func parseMITM(args transports.Args, s Scope) (*MITM, error) {
	if err := args.Unknown("names", "verify"); err != nil {
		return nil, err
	}
	p := &MITM{Scope: s, Names: list(args, "names")}
	if len(p.Names) == 0 {
		return nil, &transports.ArgError{Key: "names", Err: fmt.Errorf("%w: the names to intercept, or *", transports.ErrMissingArg)}
	}
	var err error
	p.Verify, err = args.Bool("verify", false)
	return p, err
}

func (*MITM) Name() string { return "mitm" }

func (p *MITM) String() string {
	return spec("mitm", p.Scope, "names", strings.Join(p.Names, ","), "verify", strconv.FormatBool(p.Verify))
}

func (*MITM) readsHello() bool { return true }

func (p *MITM) judgePayload(_ *Censor, _ Flow, fp *firstPayload) (Verdict, string) {
	if fp.hello == nil || !fp.hello.Complete {
		return "", ""
	}
	if !matchName(fp.hello.ServerName, p.Names) {
		return Pass, fmt.Sprintf("TLS to %q is not intercepted", fp.hello.ServerName)
	}
	return Intercepted, fmt.Sprintf("TLS to %q terminated with the censor's CA", fp.hello.ServerName)
}

// intercept runs the two TLS handshakes of an interception and returns the plaintext
// conns to relay between: the client's (with the censor's certificate) and the
// server's. A client that does not finish its handshake gets a *refusal, with what
// it did.
func (f *tcpFlow) intercept(m *MITM, fp *firstPayload) (net.Conn, net.Conn, error) {
	deadline := time.Now().Add(f.c.dialTimeout)
	f.mu.Lock()
	up := f.up
	f.mu.Unlock()
	h := fp.hello
	upTLS := tls.Client(up, &tls.Config{
		ServerName: h.ServerName,
		NextProtos: h.ALPN,
		// The censor has nothing at stake in the server's identity; a lab server's
		// certificate is self-signed.
		InsecureSkipVerify: !m.Verify, //nolint:gosec
	})
	up.SetDeadline(deadline)
	if err := upTLS.Handshake(); err != nil {
		return nil, nil, fmt.Errorf("TLS to server %s: %w", f.info.Upstream, err)
	}
	up.SetDeadline(time.Time{})
	var protos []string
	if p := upTLS.ConnectionState().NegotiatedProtocol; p != "" {
		protos = []string{p}
	}
	name := h.ServerName
	if name == "" {
		name = f.info.Upstream.Addr().String()
	}
	rec := &readRecorder{Conn: f.client}
	clientTLS := tls.Server(&prefixConn{Conn: rec, prefix: fp.data}, &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return f.c.ca.leaf(name) },
		NextProtos:     protos,
	})
	f.client.SetDeadline(deadline)
	if err := clientTLS.Handshake(); err != nil {
		return nil, nil, &refusal{reaction: f.reaction(rec, err), err: err}
	}
	f.client.SetDeadline(time.Time{})
	return clientTLS, upTLS, nil
}

// prefixConn reads prefix before the conn's own bytes: the ClientHello the censor
// already read.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// certAuthority is the censor's root CA and the leaf certificates it issued.
type certAuthority struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

func newCertAuthority(now time.Time) (*certAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("censor CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Censor Simulator Root CA", Organization: []string{"Umbrella Edge lab"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("censor CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &certAuthority{
		cert: cert, key: key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		leaves:  make(map[string]*tls.Certificate),
	}, nil
}

// leaf returns a certificate for name (a DNS name or an IP), issued once and kept.
func (ca *certAuthority) leaf(name string) (*tls.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.leaves[name]; ok {
		return c, nil
	}
	if name == "" {
		return nil, errors.New("no name to issue a certificate for")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue a certificate for %q: %w", name, err)
	}
	c := &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}
	ca.leaves[name] = c
	return c, nil
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
