package tlskit

import (
	"crypto/tls"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// ServerArgs are the listener arguments ServerConfig reads.
var ServerArgs = []string{ArgServerName, ArgCert, ArgKey}

// ServerConfig is the TLS server side of every transport that speaks TLS: the
// operator's cert= and key= files; for a servername= that certs manages (nil: none),
// the certificate certs obtains and renews (ACME); or a self-signed certificate for
// servername= kept in stateDir (in memory when stateDir is empty). It returns what
// bridge lines say of the certificate: the server name, and the pin of a self-signed
// certificate's key. The
// site speaks HTTP/1.1 only: a browser that offers h2 settles for it, as it would with
// an nginx that has h2 switched off, and an HTTP Upgrade needs HTTP/1.1. Like the nginx
// it stands for, it takes TLS 1.2 as well as 1.3: a server that refuses a TLS 1.2 hello
// is not an ordinary website. Our clients always get 1.3. Serve it with ServerHandshake.
func ServerConfig(args transports.Args, stateDir string, certs transports.CertSource) (*tls.Config, ServerIdentity, error) {
	cert, id, err := loadOrCreateCert(args, stateDir, time.Now())
	if err != nil {
		return nil, ServerIdentity{}, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12, // nginx's ssl_protocols TLSv1.2 TLSv1.3
		NextProtos:   []string{"http/1.1"},
		// OpenSSL 3.0's default groups (less X448, which Go lacks). Without them Go
		// answers a browser's post-quantum key share, and its ServerHello grows from
		// 122 bytes to over 1200, which no nginx on OpenSSL 3.0 (Debian 12) sends.
		// The session inside agrees its own hybrid post-quantum keys; TLS here is
		// the site's cover.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP521, tls.CurveP384},
		// Full records from the start, as OpenSSL writes them (nginx's ssl_buffer_size
		// is 16k); Go's first records of about 1200 bytes would mark the site as Go's.
		DynamicRecordSizingDisabled: true,
	}
	if id.Pin != "" && certs != nil && certs.Manages(id.ServerName) {
		serveManaged(cfg, certs, id.ServerName, cert)
		id.Pin = ""
	}
	return cfg, id, nil
}
