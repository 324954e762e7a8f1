package tlskit

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
	"os"
	"path/filepath"
	"time"

	"github.com/umbrella-edge/edge/internal/statefile"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

// File names of the self-signed certificate in the state directory.
const (
	certFile = "tls-cert.pem"
	keyFile  = "tls-key.pem"
)

// Self-signed certificates live 90 days, as Let's Encrypt's do, and are replaced a week
// before they expire, so a prober never sees an expired one.
const (
	certLifetime = 90 * 24 * time.Hour
	certRenew    = 7 * 24 * time.Hour
)

// ServerIdentity is what a TLS listener's bridge lines say about its certificate.
type ServerIdentity struct {
	// ServerName is the TLS server name clients send.
	ServerName string
	// Pin is the pin= of a self-signed certificate's key; empty for the operator's
	// certificate, which clients check against their roots instead.
	Pin string
}

// BridgeArgs are servername= and, for a self-signed certificate, pin=.
func (id ServerIdentity) BridgeArgs() transports.Args {
	a := transports.Args{ArgServerName: id.ServerName}
	if id.Pin != "" {
		a[trust.PinArg] = id.Pin
	}
	return a
}

// loadOrCreateCert returns the listener's certificate and what its bridge lines say of
// it: the operator's cert=/key= files, or a self-signed certificate for servername=
// kept in stateDir (in memory when stateDir is empty), pinned.
func loadOrCreateCert(args transports.Args, stateDir string, now time.Time) (tls.Certificate, ServerIdentity, error) {
	cert, serverName, selfSigned, err := loadOrCreate(args, stateDir, now)
	if err != nil {
		return tls.Certificate{}, ServerIdentity{}, err
	}
	id := ServerIdentity{ServerName: serverName}
	if selfSigned {
		id.Pin = trust.PinOf(cert.Leaf).String()
	}
	return cert, id, nil
}

func loadOrCreate(args transports.Args, stateDir string, now time.Time) (_ tls.Certificate, serverName string, selfSigned bool, _ error) {
	ca, err := parseCertArgs(args)
	if err != nil {
		return tls.Certificate{}, "", false, err
	}
	if ca.certPath != "" {
		cert, serverName, err := ca.loadOperatorCert()
		return cert, serverName, false, err
	}
	if stateDir == "" {
		cert, _, _, err := newSelfSigned(ca.serverName, now, nil)
		return cert, ca.serverName, true, err
	}
	cert, err := stateCert(stateDir, ca.serverName, now)
	return cert, ca.serverName, true, err
}

// CheckServer checks what ServerConfig would refuse in a listener's args without
// making anything: the arguments, the operator's cert= and key= files (a key others
// may read is refused), and a self-signed certificate already kept in stateDir.
func CheckServer(args transports.Args, stateDir string) error {
	ca, err := parseCertArgs(args)
	if err != nil {
		return err
	}
	if ca.certPath != "" {
		_, _, err := ca.loadOperatorCert()
		return err
	}
	if stateDir == "" {
		return nil
	}
	keyPath := filepath.Join(stateDir, keyFile)
	fi, err := os.Stat(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil // made on first start
	}
	if err != nil {
		return fmt.Errorf("self-signed certificate: %w", err)
	}
	if err := statefile.CheckPrivate(keyPath, fi); err != nil {
		return fmt.Errorf("self-signed certificate key %w", err)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(stateDir, certFile), keyPath); err != nil {
		return fmt.Errorf("load self-signed certificate from %s: %w", stateDir, err)
	}
	return nil
}

// certArgs are what a listener's arguments say of its certificate: the operator's
// files, or the name of a self-signed one.
type certArgs struct {
	certPath, keyPath, serverName string
}

func parseCertArgs(args transports.Args) (certArgs, error) {
	ca := certArgs{certPath: args.Get(ArgCert, ""), keyPath: args.Get(ArgKey, ""), serverName: args.Get(ArgServerName, "")}
	if ca.serverName != "" && net.ParseIP(ca.serverName) != nil {
		return ca, &transports.ArgError{Key: ArgServerName, Err: fmt.Errorf("want a DNS name, got the IP %s", ca.serverName)}
	}
	switch {
	case ca.certPath != "" && ca.keyPath == "":
		return ca, &transports.ArgError{Key: ArgKey, Err: fmt.Errorf("%w: cert= needs its key=", transports.ErrMissingArg)}
	case ca.keyPath != "" && ca.certPath == "":
		return ca, &transports.ArgError{Key: ArgCert, Err: fmt.Errorf("%w: key= needs its cert=", transports.ErrMissingArg)}
	case ca.certPath == "" && ca.serverName == "":
		return ca, &transports.ArgError{Key: ArgServerName, Err: fmt.Errorf("%w: give servername= (self-signed) or cert= and key=", transports.ErrMissingArg)}
	}
	return ca, nil
}

// loadOperatorCert loads the cert= and key= files, refusing a key file that others
// may read, and names the server after the certificate when servername= is absent.
func (ca certArgs) loadOperatorCert() (tls.Certificate, string, error) {
	fi, err := os.Stat(ca.keyPath)
	if err != nil {
		return tls.Certificate{}, "", &transports.ArgError{Key: ArgKey, Err: err}
	}
	if err := statefile.CheckPrivate(ca.keyPath, fi); err != nil {
		return tls.Certificate{}, "", &transports.ArgError{Key: ArgKey, Err: err}
	}
	cert, err := tls.LoadX509KeyPair(ca.certPath, ca.keyPath)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("load certificate %s and key %s: %w", ca.certPath, ca.keyPath, err)
	}
	serverName := ca.serverName
	if serverName == "" {
		if serverName = certName(cert.Leaf); serverName == "" {
			return tls.Certificate{}, "", &transports.ArgError{Key: ArgServerName, Err: fmt.Errorf("%w: certificate %s names no DNS host", transports.ErrMissingArg, ca.certPath)}
		}
	}
	return cert, serverName, nil
}

// stateCert reuses the self-signed certificate in dir while it is valid for serverName,
// and writes a new one otherwise, with the same key if there is one: the key is what
// clients pin, so a renewal must not change it.
func stateCert(dir, serverName string, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil && cert.Leaf.VerifyHostname(serverName) == nil && now.Add(certRenew).Before(cert.Leaf.NotAfter) {
		return cert, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("load self-signed certificate from %s: %w", dir, err)
	}
	var key *ecdsa.PrivateKey
	if err == nil {
		key, _ = cert.PrivateKey.(*ecdsa.PrivateKey)
	}
	cert, certPEM, keyPEM, err := newSelfSigned(serverName, now, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("create state directory: %w", err)
	}
	if err := statefile.Replace(keyPath, keyPEM); err != nil {
		return tls.Certificate{}, err
	}
	if err := statefile.Replace(certPath, certPEM); err != nil {
		return tls.Certificate{}, err
	}
	return cert, nil
}

// newSelfSigned makes a certificate for serverName with key, or a new key if nil.
func newSelfSigned(serverName string, now time.Time, key *ecdsa.PrivateKey) (tls.Certificate, []byte, []byte, error) {
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return tls.Certificate{}, nil, nil, fmt.Errorf("generate certificate key: %w", err)
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("generate certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: serverName},
		DNSNames:              []string{serverName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("create self-signed certificate for %s: %w", serverName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("encode certificate key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certPEM, keyPEM, err
}

// certName is the first DNS name a certificate is for.
func certName(leaf *x509.Certificate) string {
	if leaf == nil {
		return ""
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0]
	}
	return leaf.Subject.CommonName
}
