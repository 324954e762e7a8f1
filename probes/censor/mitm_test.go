package censor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
	"github.com/umbrella-edge/edge/transports/trust"
)

// startTLSEcho runs a TLS echo server with a self-signed certificate, as a gateway's
// TLS listener has, and returns its address and certificate.
func startTLSEcho(t *testing.T, ip string) (string, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "gateway.example"},
		DNSNames: []string{"gateway.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{"h2", "http/1.1"}}
	addr := startServer(t, ip, func(conn net.Conn) { echo(tls.Server(conn, cfg)) })
	return addr, cert
}

func TestMITMTerminatesTLSWithTheCensorsCA(t *testing.T) {
	upstream, realCert := startTLSEcho(t, "127.0.0.2")
	c := startCensor(t, []Route{tcpRoute("gw", "utls", upstream)}, &MITM{Names: []string{"gateway.example"}})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.CACertPEM()) {
		t.Fatal("CACertPEM is not a PEM certificate")
	}

	t.Run("a client that trusts the censor's root sees its certificate", func(t *testing.T) {
		conn := tls.Client(dial(t, listenAddr(t, c, "gw")), &tls.Config{ServerName: "gateway.example", RootCAs: roots, NextProtos: []string{"h2"}})
		if err := conn.Handshake(); err != nil {
			t.Fatalf("handshake through the interception: %v", err)
		}
		st := conn.ConnectionState()
		if issuer := st.PeerCertificates[0].Issuer.CommonName; !strings.Contains(issuer, "Censor") {
			t.Fatalf("certificate issued by %q; want the censor's CA", issuer)
		}
		if st.NegotiatedProtocol != "h2" {
			t.Errorf("ALPN %q; want the server's choice, h2", st.NegotiatedProtocol)
		}
		conn.Write([]byte("secret"))
		got := make([]byte, 6)
		if _, err := io.ReadFull(conn, got); err != nil || string(got) != "secret" {
			t.Fatalf("echo through the interception: %q, %v", got, err)
		}
		waitDecision(t, c, by("mitm", Intercepted))
	})

	t.Run("a client that does not trust it fails the handshake", func(t *testing.T) {
		conn := tls.Client(dial(t, listenAddr(t, c, "gw")), &tls.Config{ServerName: "gateway.example"})
		if err := conn.Handshake(); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("handshake without the censor's root: %v; want a certificate error", err)
		}
	})

	t.Run("names not chosen are left alone", func(t *testing.T) {
		conn := tls.Client(dial(t, listenAddr(t, c, "gw")), &tls.Config{ServerName: "other.example", InsecureSkipVerify: true})
		if err := conn.Handshake(); err != nil {
			t.Fatal(err)
		}
		if got := conn.ConnectionState().PeerCertificates[0]; !got.Equal(realCert) {
			t.Fatalf("got a certificate issued by %q; want the server's own", got.Issuer.CommonName)
		}
	})
}

// TestMITMRecordsHowAClientRefuses has clients that do not trust the censor's CA meet
// an interception, and wants the censor to see each one's reaction: Go's crypto/tls
// sends bad_certificate, our TLS transports send Chromium's certificate_unknown, each
// after a change_cipher_spec, in one encrypted record, and then close.
func TestMITMRecordsHowAClientRefuses(t *testing.T) {
	upstream, realCert := startTLSEcho(t, "127.0.0.2")
	pinned, err := tlskit.NewClient("gateway.example", transports.Args{trust.PinArg: trust.PinOf(realCert).String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		handshake func(net.Conn) error
		alert     string
	}{
		{"Go's crypto/tls", func(c net.Conn) error {
			return tls.Client(c, &tls.Config{ServerName: "gateway.example"}).Handshake()
		}, "bad certificate"},
		{"our TLS transports, pinning the gateway", func(c net.Conn) error {
			_, _, err := pinned.Handshake(context.Background(), c)
			return err
		}, "unknown certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCensor(t, []Route{tcpRoute("gw", "utls", upstream)}, &MITM{Names: []string{"gateway.example"}})
			conn := dial(t, listenAddr(t, c, "gw"))
			if err := tt.handshake(conn); err == nil {
				t.Fatal("the handshake with the censor's certificate succeeded")
			}
			conn.Close()
			d := waitDecision(t, c, by("mitm", Refused))
			want := Reaction{Alert: tt.alert, Close: "fin",
				Records: []Record{{RecordChangeCipherSpec, 1}, {RecordApplicationData, 19}}}
			if d.Policy != "mitm" || d.Reaction == nil || !reflect.DeepEqual(*d.Reaction, want) {
				t.Fatalf("decision %+v; want the mitm policy to record %v", d, want)
			}
		})
	}
}
