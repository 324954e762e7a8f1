package acmecert_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/gateway/acmecert"
	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/internal/pebbletest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

const domain = "www.example.com"

// site is a TLS server on loopback configured as every TLS listener is
// (tlskit.ServerConfig), with m supplying the certificate of domain.
type site struct {
	addr string
	port int
	pin  string
}

func serveSite(t *testing.T, m *acmecert.Manager, addr string) site {
	t.Helper()
	cfg, id, err := tlskit.ServerConfig(transports.Args{tlskit.ArgServerName: domain}, t.TempDir(), m)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return site{addr: addr, port: p, pin: id.Pin}
}

// served is the leaf the site shows a client that trusts roots, or the error of a
// client that refused it.
func served(addr string, roots *x509.CertPool, protos ...string) (*x509.Certificate, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: domain, RootCAs: roots, NextProtos: protos})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

func pool(t *testing.T, pemData []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemData) {
		t.Fatal("no certificate in the PEM")
	}
	return p
}

func newManager(t *testing.T, s *pebbletest.Server, cacheDir string, issued chan<- *x509.Certificate) *acmecert.Manager {
	t.Helper()
	m, err := acmecert.New(acmecert.Config{
		Domains:   []string{domain},
		Email:     "ops@example.com",
		Directory: s.Directory,
		Roots:     s.APIRoots,
		CacheDir:  cacheDir,
		OnIssue:   func(_ string, leaf *x509.Certificate) { issued <- leaf },
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loopback(t *testing.T) string {
	t.Helper()
	addr, err := freeport.TCP("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestCertificateIsObtainedThroughTheListenerItself(t *testing.T) {
	addr := loopback(t)
	_, port, _ := net.SplitHostPort(addr)
	tlsPort, _ := strconv.Atoi(port)
	pebble := pebbletest.Start(t, pebbletest.Options{TLSPort: tlsPort})
	issued := make(chan *x509.Certificate, 4)
	m := newManager(t, pebble, t.TempDir(), issued)
	s := serveSite(t, m, addr)
	if s.pin != "" {
		t.Errorf("a listener with an ACME certificate prints pin=%s; clients check the CA's chain instead", s.pin)
	}
	roots := pool(t, pebble.IssuerRoot)
	if _, err := served(s.addr, roots); err == nil {
		t.Fatal("before issuance the site served a certificate from Pebble's root")
	}

	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	leaf := <-issued
	got, err := served(s.addr, roots)
	if err != nil {
		t.Fatalf("a client trusting Pebble's root refused the served certificate: %v", err)
	}
	if !got.Equal(leaf) {
		t.Errorf("served %v, want the issued certificate %v", got.SerialNumber, leaf.SerialNumber)
	}

	// Outside a validation, a hello offering acme-tls/1 alone is refused as nginx
	// refuses an unknown protocol, so a prober cannot tell the gateway uses ACME.
	// crypto/tls names the alert a peer sent only in its error's text.
	if _, err = served(s.addr, roots, "acme-tls/1"); err == nil || !strings.Contains(err.Error(), "no application protocol") {
		t.Errorf("a hello offering acme-tls/1 alone got %v, want the no_application_protocol alert (120)", err)
	}
}

func TestCertificateNearItsEndIsRenewedWhileServing(t *testing.T) {
	addr := loopback(t)
	_, port, _ := net.SplitHostPort(addr)
	tlsPort, _ := strconv.Atoi(port)
	pebble := pebbletest.Start(t, pebbletest.Options{TLSPort: tlsPort})
	// A certificate from an earlier run, 10 minutes from its end: past the last
	// third of its lifetime, so it is due for renewal.
	cacheDir := t.TempDir()
	oldCA, err := labca.New("Earlier CA")
	if err != nil {
		t.Fatal(err)
	}
	old, err := oldCA.IssueValid(time.Now().Add(-time.Hour), time.Now().Add(10*time.Minute), domain)
	if err != nil {
		t.Fatal(err)
	}
	writeCached(t, cacheDir, old)
	issued := make(chan *x509.Certificate, 4)
	m := newManager(t, pebble, cacheDir, issued)
	s := serveSite(t, m, addr)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	renewed := <-issued
	if renewed.Equal(old.Leaf) {
		t.Fatal("OnIssue reported the cached certificate as issued")
	}
	got, err := served(s.addr, pool(t, pebble.IssuerRoot))
	if err != nil {
		t.Fatalf("after renewal a client trusting Pebble's root refused the served certificate: %v", err)
	}
	if !got.Equal(renewed) {
		t.Errorf("served serial %v, want the renewed certificate's %v", got.SerialNumber, renewed.SerialNumber)
	}
}

func TestHTTP01AnswersWhenNoListenerTakesTLSALPN(t *testing.T) {
	// Pebble's tls-alpn-01 validation meets a closed port; http-01 reaches the
	// handler on the HTTP port.
	httpAddr, closed := loopback(t), loopback(t)
	_, hp, _ := net.SplitHostPort(httpAddr)
	_, cp, _ := net.SplitHostPort(closed)
	httpPort, _ := strconv.Atoi(hp)
	closedPort, _ := strconv.Atoi(cp)
	pebble := pebbletest.Start(t, pebbletest.Options{TLSPort: closedPort, HTTPPort: httpPort})
	issued := make(chan *x509.Certificate, 4)
	m := newManager(t, pebble, t.TempDir(), issued)
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: m.HTTPHandler(http.NotFoundHandler()), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	leaf := <-issued
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: domain, Roots: pool(t, pebble.IssuerRoot), Intermediates: intermediates(m.Certificate(domain))}); err != nil {
		t.Errorf("the certificate obtained over http-01 does not verify: %v", err)
	}
}

func intermediates(c *tls.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			p.AddCert(ic)
		}
	}
	return p
}

// writeCached stores cert in dir as autocert's DirCache holds a domain's certificate:
// the EC key, then the chain, in one PEM file named after the domain.
func writeCached(t *testing.T, dir string, cert tls.Certificate) {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	for _, der := range cert.Certificate {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	if err := os.WriteFile(filepath.Join(dir, domain), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
