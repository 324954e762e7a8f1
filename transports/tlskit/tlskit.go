// Package tlskit is the TLS that the TLS transports and the censor simulator share: a
// client whose hellos are captured browsers', a server that meets peers as nginx does,
// and the one ClientHello parser with its JA3 and JA4. It is not a transport.
package tlskit

// Bridge-line and listener arguments the toolkit reads (see NewClient and ServerConfig).
const (
	// ArgServerName is the TLS server name (SNI), and the name a certificate is for.
	ArgServerName = "servername"
	// ArgFP names the browser whose ClientHello a client sends: FPChrome and the others.
	ArgFP = "fp"
	// ArgFrag cuts the ClientHello into TCP segments: 0 off, 1 random sizes, N ≥ 2
	// N-byte segments.
	ArgFrag = "frag"
	// ArgCert and ArgKey are the PEM files of the operator's certificate and key.
	ArgCert = "cert"
	ArgKey  = "key"
)
