package tlskit

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

// refusal is what a TLS server saw of a client that did not finish the handshake.
type refusal struct {
	handshakeErr error
	after        []byte // bytes the client sent after its ClientHello flight
	close        string // "fin" or "rst"
}

// serveOnce runs one TLS handshake with cert at version on a new loopback listener
// and reports what the client sent; with a completed handshake it echoes nothing and
// reports a nil handshakeErr.
func serveOnce(t *testing.T, cert tls.Certificate, version uint16) (string, <-chan refusal) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan refusal, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		rec := &recordingConn{Conn: c}
		s := tls.Server(rec, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
		r := refusal{handshakeErr: s.Handshake()}
		if r.handshakeErr == nil {
			out <- r
			return
		}
		rest, err := io.ReadAll(c)
		r.close = "fin"
		if errors.Is(err, syscall.ECONNRESET) {
			r.close = "rst"
		}
		r.after = append(afterHello(rec.read.Bytes()), rest...)
		out <- r
	}()
	return ln.Addr().String(), out
}

type recordingConn struct {
	net.Conn
	read bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Write(p[:n])
	return n, err
}

// afterHello drops the first TLS record, the ClientHello, from b.
func afterHello(b []byte) []byte {
	if len(b) < 5 {
		return nil
	}
	n := 5 + (int(b[3])<<8 | int(b[4]))
	return b[min(n, len(b)):]
}

func selfSigned(t *testing.T, name string) tls.Certificate {
	t.Helper()
	c, _, _, err := newSelfSigned(name, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRefusedCertificateEndsAsChromiumEndsIt(t *testing.T) {
	censorCert := selfSigned(t, testServerName)
	gatewayPin := trust.PinOf(selfSigned(t, testServerName).Leaf).String()
	tests := []struct {
		name    string
		version uint16
		frag    string
		// What Chromium 156 sends (see BrowserAlert): in TLS 1.3 a
		// change_cipher_spec and one encrypted record of an alert's size; in TLS 1.2
		// the alert in the clear.
		want func(t *testing.T, after []byte)
	}{
		{"TLS 1.3", tls.VersionTLS13, "0", wantEncryptedAlert},
		{"TLS 1.3, fragmented hello", tls.VersionTLS13, "1", wantEncryptedAlert},
		{"TLS 1.2", tls.VersionTLS12, "0", func(t *testing.T, after []byte) {
			if want := []byte{21, 3, 3, 0, 2, 2, BrowserAlert}; !bytes.Equal(after, want) {
				t.Fatalf("client sent % x after its hello; want the plaintext alert % x", after, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, seen := serveOnce(t, censorCert, tt.version)
			tc, err := NewClient(testServerName, transports.Args{trust.PinArg: gatewayPin, ArgFrag: tt.frag}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, dialErr := dialWith(t, tc, addr)
			var te *trust.Error
			if !errors.As(dialErr, &te) || te.Reason != trust.PinMismatch {
				t.Fatalf("Dial: %v; want a *trust.Error for a pin mismatch", dialErr)
			}
			r := <-seen
			if r.handshakeErr == nil || r.handshakeErr.Error() != "remote error: tls: unknown certificate" {
				t.Fatalf("server saw %v; want Chromium's alert, certificate_unknown", r.handshakeErr)
			}
			tt.want(t, r.after)
			if r.close != "fin" {
				t.Errorf("client closed with %s; want a FIN, as Chromium", r.close)
			}
		})
	}
}

func wantEncryptedAlert(t *testing.T, after []byte) {
	t.Helper()
	ccs := []byte{20, 3, 3, 0, 1, 1}
	if len(after) != len(ccs)+recordHeader+encryptedAlertBytes || !bytes.HasPrefix(after, ccs) ||
		!bytes.Equal(after[len(ccs):len(ccs)+recordHeader], []byte{recordAppData, 3, 3, 0, encryptedAlertBytes}) {
		t.Fatalf("client sent % x after its hello; want a change_cipher_spec and one %d-byte encrypted record", after, encryptedAlertBytes)
	}
}

// dialWith connects to addr with tc, closing the conn when the test ends.
func dialWith(t *testing.T, tc *Client, addr string) (net.Conn, error) {
	t.Helper()
	conn, _, err := tc.Dial(testContext(t), addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	return conn, nil
}

func TestCertificateIsCheckedAgainstPinOrRoots(t *testing.T) {
	ca, err := labca.New("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ca.Issue(testServerName)
	if err != nil {
		t.Fatal(err)
	}
	own := selfSigned(t, testServerName)
	tests := []struct {
		name   string
		cert   tls.Certificate
		args   transports.Args
		roots  bool
		reason trust.Reason // 0: accepted
	}{
		{"a pinned self-signed certificate", own, transports.Args{trust.PinArg: trust.PinOf(own.Leaf).String()}, false, 0},
		{"a certificate from the client's roots", issued, nil, true, 0},
		{"a self-signed certificate without a pin", own, nil, true, trust.UnknownAuthority},
		{"the system roots do not know the test CA", issued, nil, false, trust.UnknownAuthority},
		{"a pin refuses even a certificate the roots trust", issued, transports.Args{trust.PinArg: trust.PinOf(own.Leaf).String()}, true, trust.PinMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, seen := serveOnce(t, tt.cert, tls.VersionTLS13)
			var roots = ca.Pool()
			if !tt.roots {
				roots = nil
			}
			tc, err := NewClient(testServerName, tt.args, roots)
			if err != nil {
				t.Fatal(err)
			}
			_, err = dialWith(t, tc, addr)
			r := <-seen
			if tt.reason == 0 {
				if err != nil || r.handshakeErr != nil {
					t.Fatalf("Dial: %v, server: %v; want the handshake to complete", err, r.handshakeErr)
				}
				return
			}
			var te *trust.Error
			if !errors.As(err, &te) || te.Reason != tt.reason {
				t.Fatalf("Dial: %v; want a *trust.Error, %v", err, tt.reason)
			}
		})
	}
}

func TestBadPinIsNamed(t *testing.T) {
	_, err := NewClient("127.0.0.1", transports.Args{ArgServerName: testServerName, trust.PinArg: "not-a-pin"}, nil)
	var ae *transports.ArgError
	if !errors.As(err, &ae) || ae.Key != trust.PinArg {
		t.Fatalf("NewClient(pin=not-a-pin) = %v; want an ArgError naming pin", err)
	}
}
