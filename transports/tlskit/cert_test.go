package tlskit

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

// servedCert is the certificate ServerConfig serves for a servername= of name, with
// its state in dir.
func servedCert(t *testing.T, dir, name string) []byte {
	t.Helper()
	cfg, _, err := ServerConfig(transports.Args{ArgServerName: name}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Certificates[0].Certificate[0]
}

func TestSelfSignedCertificateIsKeptInTheStateDirectory(t *testing.T) {
	dir := t.TempDir()
	first := servedCert(t, dir, testServerName)
	for _, f := range []string{certFile, keyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	if again := servedCert(t, dir, testServerName); !bytes.Equal(first, again) {
		t.Error("a second ServerConfig made a new certificate instead of reusing the stored one")
	}
	if other := servedCert(t, dir, "cdn.example.net"); bytes.Equal(first, other) {
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
	cfg, id, err := ServerConfig(transports.Args{ArgCert: certPath, ArgKey: keyPath}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ServerIdentity{ServerName: "shop.example.org"}); id != want {
		t.Errorf("identity %+v, want %+v: the name from the certificate, no pin", id, want)
	}
	if block, _ := pem.Decode(certPEM); block == nil || !bytes.Equal(block.Bytes, cfg.Certificates[0].Certificate[0]) {
		t.Error("ServerConfig does not serve the operator's certificate")
	}
}

func TestSelfSignedIdentityPinsItsKey(t *testing.T) {
	cfg, id, err := ServerConfig(transports.Args{ArgServerName: testServerName}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cfg.Certificates[0].Leaf
	if id.ServerName != testServerName || id.Pin != trust.PinOf(leaf).String() {
		t.Fatalf("identity %+v; want %s pinned to the served key", id, testServerName)
	}
	if got := id.BridgeArgs(); got[ArgServerName] != testServerName || got[trust.PinArg] != id.Pin {
		t.Fatalf("BridgeArgs %v; want servername= and pin=", got)
	}
}
