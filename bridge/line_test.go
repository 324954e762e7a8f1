package bridge

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// Fixed test keys: a key= and a secret= value, and what they decode to.
var (
	testKey     = ed25519.PublicKey(bytes.Repeat([]byte{0x11}, 32))
	testSecret  = session.Secret(bytes.Repeat([]byte{0x22}, 32))
	keyB64      = EncodeKey(testKey)
	secretB64   = EncodeKey(testSecret[:])
	sessionArgs = "key=" + keyB64 + " secret=" + secretB64
)

func TestParseRoundTrips(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"canonical line is kept", "utls 203.0.113.5:443 " + sessionArgs + " fp=chrome servername=www.example.com",
			"utls 203.0.113.5:443 " + sessionArgs + " fp=chrome servername=www.example.com"},
		{"args sorted, key and secret first", "utls 203.0.113.5:443 servername=a.example fp=chrome secret=" + secretB64 + " key=" + keyB64,
			"utls 203.0.113.5:443 " + sessionArgs + " fp=chrome servername=a.example"},
		{"torrc Bridge word dropped", "Bridge tcp 192.0.2.1:8443 " + sessionArgs, "tcp 192.0.2.1:8443 " + sessionArgs},
		{"lowercase bridge word dropped", "bridge tcp 192.0.2.1:8443 " + sessionArgs, "tcp 192.0.2.1:8443 " + sessionArgs},
		{"extra whitespace ignored", "  tcp\t192.0.2.1:8443   " + sessionArgs + "  \n", "tcp 192.0.2.1:8443 " + sessionArgs},
		{"IPv6 in brackets", "tcp [2001:db8::1]:443 " + sessionArgs, "tcp [2001:db8::1]:443 " + sessionArgs},
		{"DNS name", "webtunnel bridge.example.org:443 " + sessionArgs + " url=https://bridge.example.org/x",
			"webtunnel bridge.example.org:443 " + sessionArgs + " url=https://bridge.example.org/x"},
		{"value containing =", "obfs4 192.0.2.1:80 " + sessionArgs + " cert=ab=cd", "obfs4 192.0.2.1:80 " + sessionArgs + " cert=ab=cd"},
		{"empty value kept", "tcp 192.0.2.1:80 " + sessionArgs + " x=", "tcp 192.0.2.1:80 " + sessionArgs + " x="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Parse(tt.line)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.line, err)
			}
			if got := b.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			if !bytes.Equal(b.Key, testKey) || b.Secret != testSecret {
				t.Fatalf("key/secret decoded as %x / %x", b.Key, b.Secret)
			}
			again, err := Parse(b.String())
			if err != nil {
				t.Fatalf("Parse(String()): %v", err)
			}
			if !reflect.DeepEqual(again, b) {
				t.Fatalf("round trip changed the bridge:\n got %#v\nwant %#v", again, b)
			}
		})
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	short := EncodeKey(bytes.Repeat([]byte{1}, 31))
	tests := []struct {
		name, line string
		field      string // Error.Field
		want       string // the whole message
	}{
		{"empty line", "  ", "", "bridge line: empty"},
		{"only Bridge word", "Bridge", "", "bridge line: empty"},
		{"bad transport name", "ut!ls 1.2.3.4:443 " + sessionArgs, "transport",
			`bridge line: transport "ut!ls": want letters, digits and _, starting with a letter`},
		{"no address", "utls", "address", "bridge line: address: required"},
		{"missing port", "utls 1.2.3.4 " + sessionArgs, "address", `bridge line: address "1.2.3.4": missing port`},
		{"port zero", "utls 1.2.3.4:0 " + sessionArgs, "address", `bridge line: address "1.2.3.4:0": port "0": want a number in 1..65535`},
		{"port too big", "utls 1.2.3.4:65536 " + sessionArgs, "address", `bridge line: address "1.2.3.4:65536": port "65536": want a number in 1..65535`},
		{"IPv6 without brackets", "utls 2001:db8::1:443 " + sessionArgs, "address",
			`bridge line: address "2001:db8::1:443": IPv6 addresses need brackets, as in [::1]:443`},
		{"IPv4 in brackets", "utls [1.2.3.4]:443 " + sessionArgs, "address", `bridge line: address "[1.2.3.4]:443": "1.2.3.4" in brackets is not an IPv6 address`},
		{"IPv6 zone", "utls [fe80::1%eth0]:443 " + sessionArgs, "address", `bridge line: address "[fe80::1%eth0]:443": IPv6 zones (%eth0) have no meaning to a remote peer`},
		{"no host", "utls :443 " + sessionArgs, "address", `bridge line: address ":443": missing host`},
		{"bad host", "utls a/b:443 " + sessionArgs, "address", `bridge line: address "a/b:443": host "a/b" is neither an IP address nor a DNS name`},
		{"word without =", "utls 1.2.3.4:443 " + sessionArgs + " 0123456789ABCDEF", "argument 3",
			"bridge line: argument 3: want key=value (Tor's fingerprints are not used)"},
		{"bad argument name", "utls 1.2.3.4:443 " + sessionArgs + " f!p=x", "argument", `bridge line: argument "f!p": name: want letters, digits, '_', '-' and '.'`},
		{"duplicate argument", "utls 1.2.3.4:443 " + sessionArgs + " fp=a fp=b", "fp=", "bridge line: fp=: given twice"},
		{"duplicate secret", "utls 1.2.3.4:443 " + sessionArgs + " secret=" + secretB64, "secret=", "bridge line: secret=: given twice"},
		{"non-ASCII value", "utls 1.2.3.4:443 " + sessionArgs + " fp=chrömé", "fp=", "bridge line: fp=: value has characters other than printable ASCII"},
		{"missing key", "utls 1.2.3.4:443 secret=" + secretB64, "key=", "bridge line: key=: required"},
		{"missing secret", "utls 1.2.3.4:443 key=" + keyB64, "secret=", "bridge line: secret=: required"},
		{"short secret", "utls 1.2.3.4:443 key=" + keyB64 + " secret=" + short, "secret=", "bridge line: secret=: want 32 bytes of base64url, got 31"},
		{"short key", "utls 1.2.3.4:443 key=" + short + " secret=" + secretB64, "key=", "bridge line: key=: want 32 bytes of base64url, got 31"},
		{"padded secret", "utls 1.2.3.4:443 key=" + keyB64 + " secret=" + secretB64 + "=", "secret=", "bridge line: secret=: want 32 bytes of base64url without '=' padding"},
		{"standard base64 secret", "utls 1.2.3.4:443 key=" + keyB64 + " secret=" + strings.Repeat("+", 43), "secret=",
			"bridge line: secret=: want 32 bytes of base64url: illegal base64 data at input byte 0"},
		{"zero secret", "utls 1.2.3.4:443 key=" + keyB64 + " secret=" + EncodeKey(make([]byte, 32)), "secret=", "bridge line: secret=: all zero: not a generated secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.line)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want error %q", tt.line, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("error = %q\n      want %q", err, tt.want)
			}
			var be *Error
			if !errors.As(err, &be) || be.Field != tt.field {
				t.Fatalf("error %#v does not name field %q", err, tt.field)
			}
			if strings.Contains(err.Error(), secretB64) {
				t.Fatalf("error repeats the secret: %q", err)
			}
		})
	}
}

func TestParseMissingIsErrMissing(t *testing.T) {
	_, err := Parse("tcp 192.0.2.1:80 key=" + keyB64)
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("error %v is not ErrMissing", err)
	}
}

func TestRedactedHidesKeySecretAndCert(t *testing.T) {
	b, err := Parse("obfs4 192.0.2.1:80 " + sessionArgs + " cert=SECRETCERTVALUE iat-mode=0")
	if err != nil {
		t.Fatal(err)
	}
	red := b.Redacted()
	for _, s := range []string{keyB64, secretB64, "SECRETCERTVALUE"} {
		if strings.Contains(red, s) {
			t.Errorf("Redacted() = %q contains %q", red, s)
		}
	}
	for _, s := range []string{"obfs4 192.0.2.1:80 ", "key=#", "secret=#", "cert=#", "iat-mode=0"} {
		if !strings.Contains(red, s) {
			t.Errorf("Redacted() = %q lacks %q", red, s)
		}
	}
	other := b
	other.Secret[0] ^= 1
	if other.Redacted() == red {
		t.Errorf("two secrets redact alike: %q", red)
	}
	if b.Redacted() != red {
		t.Errorf("Redacted is not stable")
	}
}

func TestRedactedHidesSecretPaths(t *testing.T) {
	const secretPath = "/k3v9tq2mzx7c4hw1bn5d"
	tests := []struct {
		line string
		keep []string
	}{
		{"webtunnel 192.0.2.1:443 " + sessionArgs + " url=https://www.example.com" + secretPath + " servername=www.example.com ver=0.0.1",
			[]string{"url=https://www.example.com/#", "servername=www.example.com", "ver=0.0.1"}},
		{"websocket 192.0.2.1:443 " + sessionArgs + " host=origin.example path=" + secretPath + " servername=cdn.example",
			[]string{"host=origin.example", "path=#", "servername=cdn.example"}},
		{"meek 192.0.2.1:443 " + sessionArgs + " url=https://meek.example:8443" + secretPath + " pin=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU",
			[]string{"url=https://meek.example:8443/#", "pin=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}},
		{"meek 192.0.2.1:443 " + sessionArgs + " url=not-a-url" + secretPath, []string{"url=#"}},
	}
	for _, tt := range tests {
		b, err := Parse(tt.line)
		if err != nil {
			t.Fatal(err)
		}
		red := b.Redacted()
		if strings.Contains(red, secretPath) || strings.Contains(red, secretPath[1:]) {
			t.Errorf("Redacted() = %q shows the secret path", red)
		}
		for _, s := range tt.keep {
			if !strings.Contains(red, s) {
				t.Errorf("Redacted() = %q lacks %q", red, s)
			}
		}
		other := strings.Replace(tt.line, secretPath, "/another-path", 1)
		if ob, _ := Parse(other); ob.Redacted() == red {
			t.Errorf("two paths redact alike: %q", red)
		}
	}
}

func TestSlogPrintsBridgesRedacted(t *testing.T) {
	b := New("tcp", "192.0.2.1:80", testKey, testSecret, nil)
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("listening", "bridge", b)
	}
	if strings.Contains(buf.String(), secretB64) || !strings.Contains(buf.String(), "secret=#") {
		t.Fatalf("log output does not redact the bridge:\n%s", buf.String())
	}
}

func TestNewCopiesArgsWithoutSessionNames(t *testing.T) {
	args := transports.Args{"servername": "a.example", "key": "/etc/tls.key"}
	b := New("utls", "192.0.2.1:443", testKey, testSecret, args)
	args["servername"] = "changed.example"
	want := "utls 192.0.2.1:443 " + sessionArgs + " servername=a.example"
	if got := b.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if _, err := Parse(b.String()); err != nil {
		t.Fatalf("printed line does not parse: %v", err)
	}
}

// A Line is its bridge line as text too, so that YAML and JSON files list bridges as
// the lines users paste.
func TestTextIsTheBridgeLine(t *testing.T) {
	b := New("tcp", "[::1]:443", testKey, testSecret, transports.Args{"a": "true"})
	text, err := b.MarshalText()
	if err != nil || string(text) != b.String() {
		t.Fatalf("MarshalText() = %q, %v; want the line %q", text, err, b.String())
	}
	var back Line
	if err := back.UnmarshalText(text); err != nil || !reflect.DeepEqual(back, b) {
		t.Fatalf("UnmarshalText gave %#v, %v; want %#v", back, err, b)
	}
	var be *Error
	if err := back.UnmarshalText([]byte("tcp 1.2.3.4")); !errors.As(err, &be) || be.Field != "address" {
		t.Fatalf("UnmarshalText of a bad line: error %v, want an *Error naming the address", err)
	}
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		name      string
		transport string
		addr      string
		args      transports.Args
		want      session.Endpoint
	}{
		{"transport, address and server name", "utls", "192.0.2.1:443", transports.Args{"servername": "a.example"},
			session.Endpoint{Transport: "utls", Address: "192.0.2.1:443", ServerName: "a.example"}},
		{"pt binds to its method", "pt", "192.0.2.1:443", transports.Args{"method": "obfs4", "cert": "x"},
			session.Endpoint{Transport: "obfs4", Address: "192.0.2.1:443"}},
		{"a fronted bridge binds to its origin's host", "websocket", "104.16.0.1:443", transports.Args{"servername": "front.example", "host": "origin.example"},
			session.Endpoint{Transport: "websocket", Address: "origin.example"}},
		{"or to its URL's host", "webtunnel", "104.16.0.2:443", transports.Args{"servername": "front.example", "url": "https://origin.example/p"},
			session.Endpoint{Transport: "webtunnel", Address: "origin.example"}},
		{"a dns bridge binds to its domain, not the resolver", "dns", "192.0.2.53:53", transports.Args{"domain": "T.Example.org.", "doh": "https://resolver.example/dns-query"},
			session.Endpoint{Transport: "dns", Address: "t.example.org"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.transport, tt.addr, testKey, testSecret, tt.args)
			if got := b.Endpoint(); got != tt.want {
				t.Fatalf("Endpoint() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
