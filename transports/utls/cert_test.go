package utls

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

func peerCert(t *testing.T, ln transports.Listener) []byte {
	t.Helper()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Read(make([]byte, 1)) // let the handshake finish, then hang up
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, ServerName: testServerName})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Raw
}

func TestSelfSignedCertificateIsKeptInTheStateDirectory(t *testing.T) {
	dir := t.TempDir()
	listenIn := func(name string) transports.Listener {
		ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{
			Addr: "127.0.0.1:0", Args: transports.Args{argServerName: name}, StateDir: dir,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln
	}
	first := peerCert(t, listenIn(testServerName))
	for _, f := range []string{certFile, keyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	if again := peerCert(t, listenIn(testServerName)); !bytes.Equal(first, again) {
		t.Error("a second Listen made a new certificate instead of reusing the stored one")
	}
	if other := peerCert(t, listenIn("cdn.example.net")); bytes.Equal(first, other) {
		t.Error("a new server name kept the certificate made for the old one")
	}
}

func TestSelfSignedCertificateIsRenewedBeforeItExpires(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old, err := stateCert(dir, testServerName, now.Add(-certLifetime+certRenew/2))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := stateCert(dir, testServerName, now)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(old.Leaf.Raw, fresh.Leaf.Raw) {
		t.Fatalf("certificate expiring %v was reused at %v", old.Leaf.NotAfter, now)
	}
	if trust.PinOf(old.Leaf) != trust.PinOf(fresh.Leaf) {
		t.Fatal("the renewed certificate has a new key: bridge lines pinning the old one stop working")
	}
}

func TestOperatorCertificateIsServedAndNamesTheBridge(t *testing.T) {
	dir := t.TempDir()
	_, certPEM, keyPEM, err := newSelfSigned("shop.example.org", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	os.WriteFile(certPath, certPEM, 0o600)
	os.WriteFile(keyPath, keyPEM, 0o600)
	ln := listenLoopback(t, transports.Args{argCert: certPath, argKey: keyPath, argFP: FPFirefox})
	want := transports.Args{argServerName: "shop.example.org", argFP: FPFirefox}
	if got := ln.BridgeArgs(); len(got) != len(want) || got[argServerName] != want[argServerName] || got[argFP] != want[argFP] {
		t.Errorf("BridgeArgs %v, want %v", got, want)
	}
	served := peerCert(t, ln)
	if block, _ := pem.Decode(certPEM); block == nil || !bytes.Equal(block.Bytes, served) {
		t.Error("the listener did not serve the operator's certificate")
	}
}
