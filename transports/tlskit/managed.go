package tlskit

import (
	"crypto/tls"

	"github.com/umbrella-edge/edge/transports"
)

// acmeALPN is the ALPN protocol of ACME's tls-alpn-01 challenge (RFC 8737 section 6.2):
// the CA's validation hello offers it alone.
const acmeALPN = "acme-tls/1"

// serveManaged makes cfg serve serverName's certificate from certs, read at each
// handshake so that a renewal shows without a restart, and selfSigned until certs has
// one (clients without a pin refuse it, and try again later). It answers the ACME CA's
// tls-alpn-01 validation while certs has a challenge pending for the name; at any other
// time a hello offering only acme-tls/1 is refused as before, with nginx's
// no_application_protocol alert, so a prober learns nothing from asking.
func serveManaged(cfg *tls.Config, certs transports.CertSource, serverName string, selfSigned tls.Certificate) {
	cfg.Certificates = nil
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := certs.Certificate(serverName); c != nil {
			return c, nil
		}
		return &selfSigned, nil
	}
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if len(hello.SupportedProtos) != 1 || hello.SupportedProtos[0] != acmeALPN {
			return nil, nil
		}
		c, err := certs.Challenge(hello)
		if err != nil {
			return nil, nil
		}
		return &tls.Config{
			Certificates: []tls.Certificate{*c},
			NextProtos:   []string{acmeALPN},
			MinVersion:   tls.VersionTLS12,
		}, nil
	}
}
