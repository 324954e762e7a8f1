package dns

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

// resolverTransfer is how much each side sends at once through each kind of resolver
// conn: many queries' worth, in both directions at once.
const resolverTransfer = 128 << 10

// TestEveryWayToTheResolver carries data both ways at once, and a half close, through
// unbound over plain DNS, DNS over TLS and DNS over HTTPS. The whole conformance suite
// runs over plain DNS (TestConformance); the encrypted ways share everything but the
// resolver conn.
func TestEveryWayToTheResolver(t *testing.T) {
	for _, kind := range []resolverKind{overUDP, overTLS, overHTTPS} {
		t.Run(kind.String(), func(t *testing.T) {
			ln := listenLoopback(t)
			d := startResolver(t, ln).dialer(t, kind)
			client, server := connect(t, ln, d)
			up, down := randomBytes(resolverTransfer), randomBytes(resolverTransfer)
			sent := make(chan error, 2)
			go func() { _, err := client.Write(up); sent <- err }()
			go func() { _, err := server.Write(down); sent <- err }()
			expect(t, "server", server, up)
			expect(t, "client", client, down)
			for range 2 {
				if err := <-sent; err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			if err := client.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatalf("CloseWrite: %v", err)
			}
			if rest, err := io.ReadAll(server); err != nil || len(rest) != 0 {
				t.Fatalf("server read %d bytes and %v after the client's CloseWrite, want io.EOF", len(rest), err)
			}
		})
	}
}

// connect dials d and accepts the carrier on ln; both close when the test ends.
func connect(t *testing.T, ln transports.Listener, d transports.Dialer) (client, server net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	client, err := d.Dial(testContext(t))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	server = <-accepted
	if server == nil {
		t.Fatal("Accept failed after a successful Dial")
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

func expect(t *testing.T, who string, c net.Conn, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("%s reading %d bytes: %v", who, len(want), err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s read %d bytes that differ from those sent", who, len(want))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131 + i>>8)
	}
	return b
}

// TestResolverCertificateIsChecked: DoT and DoH refuse a resolver whose certificate
// does not chain to the client's roots, and accept one whose key the line pins.
func TestResolverCertificateIsChecked(t *testing.T) {
	ln := listenLoopback(t)
	r := startResolver(t, ln)
	other, err := labca.New("another CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []resolverKind{overTLS, overHTTPS} {
		t.Run(kind.String(), func(t *testing.T) {
			addr, args := r.line(kind)
			d, err := newDialer(addr, args, other.Pool())
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Dial(testContext(t))
			var te *trust.Error
			if !errors.As(err, &te) || te.Reason != trust.UnknownAuthority {
				t.Fatalf("Dial to a resolver of an untrusted CA: %v, want a *trust.Error for an unknown authority", err)
			}
			args[trust.PinArg] = resolverPin(t, r).String()
			if d, err = newDialer(addr, args, other.Pool()); err != nil {
				t.Fatal(err)
			}
			c, err := d.Dial(testContext(t))
			if err != nil {
				t.Fatalf("Dial to a resolver whose key the line pins: %v", err)
			}
			c.Close()
		})
	}
}

// resolverPin is the pin of the key of r's certificate.
func resolverPin(t *testing.T, r *resolver) trust.Pin {
	t.Helper()
	b, err := os.ReadFile(r.Config.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return trust.PinOf(cert)
}

// TestDomainNotDelegated: a resolver that cannot reach the zone answers the first
// query with an error, and Dial says so instead of waiting for its context.
func TestDomainNotDelegated(t *testing.T) {
	ln := listenLoopback(t)
	r := startResolver(t, ln)
	addr, _ := r.line(overUDP)
	d, err := newDialer(addr, transports.Args{argDomain: "t.example.net"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Dial(testContext(t)); !errors.Is(err, ErrResolver) {
		t.Fatalf("Dial through a resolver that refuses the domain: %v, want ErrResolver", err)
	}
}

func TestNewDialerNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name    string
		args    transports.Args
		wantKey string
	}{
		{"no domain", transports.Args{}, argDomain},
		{"not a domain", transports.Args{argDomain: "a..b"}, argDomain},
		{"a domain too long to carry anything", transports.Args{argDomain: longDomain()}, argDomain},
		{"unknown argument", transports.Args{argDomain: testDomain, "server": "x"}, "server"},
		{"doh and dot", transports.Args{argDomain: testDomain, argDoH: "https://r.example/dns-query", argDoT: "r.example"}, argDoT},
		{"doh not https", transports.Args{argDomain: testDomain, argDoH: "http://r.example/dns-query"}, argDoH},
		{"dot an IP", transports.Args{argDomain: testDomain, argDoT: "192.0.2.1:853"}, argDoT},
		{"dot a bad port", transports.Args{argDomain: testDomain, argDoT: "r.example:dns"}, argDoT},
		{"a bad pin", transports.Args{argDomain: testDomain, argDoT: "r.example", trust.PinArg: "nope"}, trust.PinArg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nil).NewDialer("192.0.2.53:53", tt.args)
			var ae *transports.ArgError
			if !errors.As(err, &ae) || ae.Key != tt.wantKey {
				t.Fatalf("NewDialer(%v) = %v, want an ArgError naming %s", tt.args, err, tt.wantKey)
			}
		})
	}
}

func longDomain() string {
	d := "example.org"
	for len(d) < 200 {
		d = "abcdefghij." + d
	}
	return d
}

func TestNewDialerReachesTheResolverTheLineNames(t *testing.T) {
	tests := []struct {
		name     string
		args     transports.Args
		wantAddr string
		wantKind resolverKind
	}{
		{"plain DNS at the line's address", transports.Args{argDomain: testDomain}, "192.0.2.53:53", overUDP},
		{"DoT on its default port", transports.Args{argDomain: testDomain, argDoT: "r.example"}, "192.0.2.53:853", overTLS},
		{"DoT on the port given", transports.Args{argDomain: testDomain, argDoT: "r.example:8853"}, "192.0.2.53:8853", overTLS},
		{"DoH on 443", transports.Args{argDomain: testDomain, argDoH: "https://r.example/dns-query"}, "192.0.2.53:443", overHTTPS},
		{"DoH on the URL's port", transports.Args{argDomain: testDomain, argDoH: "https://r.example:8443/q"}, "192.0.2.53:8443", overHTTPS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := newDialer("192.0.2.53:53", tt.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d.Addr != tt.wantAddr || d.kind != tt.wantKind {
				t.Errorf("reaches %s over %s, want %s over %s", d.Addr, d.kind, tt.wantAddr, tt.wantKind)
			}
		})
	}
}
