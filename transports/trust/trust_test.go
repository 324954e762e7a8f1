package trust_test

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/transports/trust"
)

const name = "gw.example.org"

func newCA(t *testing.T, name string) *labca.CA {
	t.Helper()
	ca, err := labca.New(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func chain(t *testing.T, ca *labca.CA, notBefore, notAfter time.Time, names ...string) []*x509.Certificate {
	t.Helper()
	c, err := ca.IssueValid(notBefore, notAfter, names...)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*x509.Certificate, len(c.Certificate))
	for i, der := range c.Certificate {
		if out[i], err = x509.ParseCertificate(der); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestVerifier(t *testing.T) {
	ca, censorCA := newCA(t, "Lab CA"), newCA(t, "Censor CA")
	now := time.Now()
	valid := chain(t, ca, now.Add(-time.Hour), now.Add(time.Hour), name)
	expired := chain(t, ca, now.Add(-2*time.Hour), now.Add(-time.Hour), name)
	otherName := chain(t, ca, now.Add(-time.Hour), now.Add(time.Hour), "other.example.org")
	byCensor := chain(t, censorCA, now.Add(-time.Hour), now.Add(time.Hour), name)
	leafPin, caPin := trust.PinOf(valid[0]), trust.PinOf(ca.Cert)

	tests := []struct {
		name  string
		v     trust.Verifier
		certs []*x509.Certificate
		want  trust.Reason // 0: accepted
	}{
		{"a chain to the roots is accepted", trust.Verifier{ServerName: name, Roots: ca.Pool()}, valid, 0},
		{"a chain to another CA is refused", trust.Verifier{ServerName: name, Roots: ca.Pool()}, byCensor, trust.UnknownAuthority},
		{"a certificate for another name is refused", trust.Verifier{ServerName: name, Roots: ca.Pool()}, otherName, trust.WrongName},
		{"an expired certificate is refused", trust.Verifier{ServerName: name, Roots: ca.Pool()}, expired, trust.Expired},
		{"the system roots do not know a private CA", trust.Verifier{ServerName: name}, valid, trust.UnknownAuthority},
		{"a pinned leaf key is accepted without roots", trust.Verifier{ServerName: name, Pins: []trust.Pin{leafPin}}, valid, 0},
		{"a pinned leaf key is accepted for any name and date", trust.Verifier{ServerName: "x.example", Pins: []trust.Pin{leafPin}, Now: func() time.Time { return now.Add(1000 * time.Hour) }}, valid, 0},
		{"one of several pins is enough", trust.Verifier{ServerName: name, Pins: []trust.Pin{trust.PinOf(byCensor[0]), leafPin}}, valid, 0},
		{"an unpinned key is refused even if the roots trust it", trust.Verifier{ServerName: name, Roots: ca.Pool(), Pins: []trust.Pin{trust.PinOf(byCensor[0])}}, valid, trust.PinMismatch},
		{"the censor's certificate does not match the pin", trust.Verifier{ServerName: name, Pins: []trust.Pin{leafPin}}, byCensor, trust.PinMismatch},
		{"a pinned CA key accepts the chains it signed", trust.Verifier{ServerName: name, Pins: []trust.Pin{caPin}}, valid, 0},
		{"a pinned CA key still checks the name", trust.Verifier{ServerName: name, Pins: []trust.Pin{caPin}}, otherName, trust.PinMismatch},
		{"no certificate is refused", trust.Verifier{ServerName: name, Roots: ca.Pool()}, nil, trust.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Verify(tt.certs)
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("Verify: %v; want accepted", err)
				}
				return
			}
			var te *trust.Error
			if !errors.As(err, &te) || !errors.Is(err, trust.ErrCertificate) {
				t.Fatalf("Verify: %v; want a *trust.Error wrapping ErrCertificate", err)
			}
			if te.Reason != tt.want || te.ServerName != tt.v.ServerName {
				t.Fatalf("Verify: reason %v for %q; want %v for %q", te.Reason, te.ServerName, tt.want, tt.v.ServerName)
			}
		})
	}
}

func TestVerifyRawRefusesGarbage(t *testing.T) {
	v := trust.Verifier{ServerName: name}
	var te *trust.Error
	if err := v.VerifyRaw([][]byte{[]byte("not DER")}, nil); !errors.As(err, &te) || te.Reason != trust.Malformed {
		t.Fatalf("VerifyRaw(garbage) = %v; want a Malformed *trust.Error", err)
	}
}

func TestLoadCAFileAddsToTheSystemRoots(t *testing.T) {
	ca := newCA(t, "Private CA")
	dir := t.TempDir()
	file := filepath.Join(dir, "ca.pem")
	if err := ca.WriteFile(file); err != nil {
		t.Fatal(err)
	}
	pool, err := trust.LoadCAFile(file)
	if err != nil {
		t.Fatal(err)
	}
	v := trust.Verifier{ServerName: name, Roots: pool}
	if err := v.Verify(chain(t, ca, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), name)); err != nil {
		t.Fatalf("a chain to the CA file's certificate: %v", err)
	}
	if sys, err := x509.SystemCertPool(); err == nil {
		//lint:ignore SA1019 Subjects counts a pool's certificates, all this needs; it is deprecated for platforms whose system roots it cannot list, and a zero count skips the check there
		got, system := len(pool.Subjects()), len(sys.Subjects())
		if system > 0 && got != system+1 {
			t.Errorf("pool has %d subjects; want the system's %d plus the CA file's", got, system)
		}
	}

	t.Run("a file without a certificate is an error", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.pem")
		os.WriteFile(bad, []byte("hello"), 0o644)
		if _, err := trust.LoadCAFile(bad); err == nil {
			t.Fatal("LoadCAFile(no PEM) succeeded")
		}
	})
	t.Run("a missing file is an error", func(t *testing.T) {
		if _, err := trust.LoadCAFile(filepath.Join(dir, "none.pem")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("LoadCAFile(missing) = %v; want ErrNotExist", err)
		}
	})
}

func TestPinsRoundTrip(t *testing.T) {
	ca := newCA(t, "CA")
	p := trust.PinOf(ca.Cert)
	s := p.String()
	if len(s) != 43 {
		t.Fatalf("pin %q has %d characters; want 43 (base64url of 32 bytes, unpadded)", s, len(s))
	}
	got, err := trust.ParsePins(trust.FormatPins([]trust.Pin{p, p}))
	if err != nil || len(got) != 2 || got[0] != p || got[1] != p {
		t.Fatalf("ParsePins(FormatPins) = %v, %v; want the two pins back", got, err)
	}
	if got, err := trust.ParsePin(s + "="); err != nil || got != p {
		t.Fatalf("ParsePin with padding = %v, %v", got, err)
	}
	for _, bad := range []string{"", "abc", s[:42], s + "AA", "+" + s[1:]} {
		if _, err := trust.ParsePin(bad); err == nil {
			t.Errorf("ParsePin(%q) succeeded; want an error", bad)
		}
	}
}

func FuzzParsePins(f *testing.F) {
	f.Add("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU")
	f.Add("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=")
	f.Add(",")
	f.Fuzz(func(t *testing.T, s string) {
		pins, err := trust.ParsePins(s)
		if err != nil {
			return
		}
		again, err := trust.ParsePins(trust.FormatPins(pins))
		if err != nil || len(again) != len(pins) {
			t.Fatalf("FormatPins(ParsePins(%q)) does not parse back: %v", s, err)
		}
	})
}

func TestReasonsHaveOONIFailureStrings(t *testing.T) {
	for r, want := range map[trust.Reason]string{
		trust.UnknownAuthority: "ssl_unknown_authority",
		trust.WrongName:        "ssl_invalid_hostname",
		trust.Expired:          "ssl_invalid_certificate",
		trust.PinMismatch:      "ssl_invalid_certificate",
		trust.Malformed:        "ssl_invalid_certificate",
	} {
		if got := r.OONI(); got != want {
			t.Errorf("%v.OONI() = %q, want %q", r, got, want)
		}
	}
}
