package webtunnel

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/tlskit"
	"github.com/umbrella-edge/edge/transports/trust"
)

func TestNewDialerNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		args    transports.Args
		wantKey string
		wantErr error
	}{
		{"no url", "203.0.113.5:443", transports.Args{}, argURL, transports.ErrMissingArg},
		{"unknown argument", "203.0.113.5:443", transports.Args{argURL: testURL, "sni": "x"}, "sni", nil},
		{"http url", "203.0.113.5:443", transports.Args{argURL: "http://" + testServerName + testPath}, argURL, nil},
		{"url with an IP host", "203.0.113.5:443", transports.Args{argURL: "https://203.0.113.5" + testPath}, argURL, nil},
		{"url with a query", "203.0.113.5:443", transports.Args{argURL: testURL + "?a=b"}, argURL, nil},
		{"url without a path", "203.0.113.5:443", transports.Args{argURL: "https://" + testServerName}, argURL, httpfront.ErrBadPath},
		{"url with a bad port", "203.0.113.5:443", transports.Args{argURL: "https://" + testServerName + ":99999" + testPath}, argURL, nil},
		{"utls none", "203.0.113.5:443", transports.Args{argURL: testURL, argUTLS: "none"}, argUTLS, nil},
		{"utls unknown", "203.0.113.5:443", transports.Args{argURL: testURL, argUTLS: "HelloOpera_Auto"}, argUTLS, nil},
		{"utls and fp", "203.0.113.5:443", transports.Args{argURL: testURL, argUTLS: "hellochrome_auto", argFP: "chrome"}, argUTLS, nil},
		{"unknown fp", "203.0.113.5:443", transports.Args{argURL: testURL, argFP: "opera"}, argFP, tlskit.ErrUnknownFingerprint},
		{"IP as server name", "203.0.113.5:443", transports.Args{argURL: testURL, argServerName: "203.0.113.5"}, argServerName, nil},
		{"bad frag", "203.0.113.5:443", transports.Args{argURL: testURL, argFrag: "many"}, argFrag, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nil).NewDialer(tt.addr, tt.args)
			var ae *transports.ArgError
			if !errors.As(err, &ae) || ae.Key != tt.wantKey {
				t.Fatalf("NewDialer(%q, %v) = %v, want an ArgError naming %s", tt.addr, tt.args, err, tt.wantKey)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewDialer(%q, %v) = %v, want it to wrap %v", tt.addr, tt.args, err, tt.wantErr)
			}
		})
	}
	if _, err := New(nil).NewDialer("no-port", transports.Args{argURL: testURL}); err == nil {
		t.Fatal("NewDialer accepted a bridge address without a port")
	}
}

func TestNewDialerAccepts(t *testing.T) {
	tests := []struct {
		name           string
		args           transports.Args
		wantServerName string
		wantFP         string
		wantRequest    string
	}{
		{"url alone", transports.Args{argURL: testURL, argVer: "0.0.3"}, testServerName, tlskit.FPChrome,
			"GET " + testPath + " HTTP/1.1\r\nHost: " + testServerName + "\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"},
		{"port kept in Host", transports.Args{argURL: "https://" + testServerName + ":8443" + testPath}, testServerName, tlskit.FPChrome,
			"GET " + testPath + " HTTP/1.1\r\nHost: " + testServerName + ":8443\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"},
		{"servername beats the url's host", transports.Args{argURL: testURL, argServerName: "cdn.example.net"}, "cdn.example.net", tlskit.FPChrome, ""},
		{"Tor's firefox hello", transports.Args{argURL: testURL, argUTLS: "HelloFirefox_120"}, testServerName, tlskit.FPFirefox, ""},
		{"Tor's ios hello", transports.Args{argURL: testURL, argUTLS: "helloios_auto"}, testServerName, tlskit.FPSafari, ""},
		{"Tor's edge hello", transports.Args{argURL: testURL, argUTLS: "helloedge_auto"}, testServerName, tlskit.FPChrome, ""},
		{"empty utls is the default", transports.Args{argURL: testURL, argUTLS: ""}, testServerName, tlskit.FPChrome, ""},
		{"our fp", transports.Args{argURL: testURL, argFP: tlskit.FPFirefox}, testServerName, tlskit.FPFirefox, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(nil).NewDialer("203.0.113.5:443", tt.args)
			if err != nil {
				t.Fatal(err)
			}
			got := d.(*dialer)
			if got.tls.ServerName() != tt.wantServerName || got.tls.Fingerprint() != tt.wantFP {
				t.Fatalf("server name %q, fingerprint %s; want %q, %s", got.tls.ServerName(), got.tls.Fingerprint(), tt.wantServerName, tt.wantFP)
			}
			if tt.wantRequest != "" && string(got.request) != tt.wantRequest {
				t.Fatalf("request %q, want %q", got.request, tt.wantRequest)
			}
		})
	}
}

func TestTorRandomizedHelloIsOneOfOurBrowsers(t *testing.T) {
	for _, name := range []string{"hellorandomized", "HelloRandomizedALPN", "hellorandomizednoalpn"} {
		fp, err := fpFromTorUTLS(name)
		if err != nil || fp != tlskit.FPRandom {
			t.Errorf("fpFromTorUTLS(%q) = %q, %v; want %s", name, fp, err, tlskit.FPRandom)
		}
	}
}

func TestListenNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		args    transports.Args
		wantKey string
	}{
		{"unknown argument", "127.0.0.1:0", transports.Args{argURL: testURL, "secret": "x"}, "secret"},
		{"url and path", "127.0.0.1:0", transports.Args{argURL: testURL, "path": "/other"}, "path"},
		{"bad url", "127.0.0.1:0", transports.Args{argURL: "https://" + testServerName + "/a b"}, argURL},
		{"bad path", "127.0.0.1:0", transports.Args{argServerName: testServerName, "path": "no-slash"}, "path"},
		{"no name at all", "127.0.0.1:0", transports.Args{}, argServerName},
		{"plain HTTP on a public address", "203.0.113.5:8080", transports.Args{"tls": "false", argServerName: testServerName}, "tls"},
		{"plain HTTP on all interfaces", ":8080", transports.Args{"tls": "false", argServerName: testServerName}, "tls"},
		{"plain HTTP with a certificate", "127.0.0.1:0", transports.Args{"tls": "false", argServerName: testServerName, "cert": "c.pem", "key": "k.pem"}, "cert"},
		{"plain HTTP without a name", "127.0.0.1:0", transports.Args{"tls": "false"}, argServerName},
		{"allow-public-plain with TLS", "127.0.0.1:0", transports.Args{argURL: testURL, "allow-public-plain": "true"}, "allow-public-plain"},
		{"tls not a boolean", "127.0.0.1:0", transports.Args{argURL: testURL, "tls": "maybe"}, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := New(nil).Listen(t.Context(), transports.ListenConfig{Addr: tt.addr, Args: tt.args})
			if err == nil {
				ln.Close()
			}
			var ae *transports.ArgError
			if !errors.As(err, &ae) || ae.Key != tt.wantKey {
				t.Fatalf("Listen(%s, %v) = %v, want an ArgError naming %s", tt.addr, tt.args, err, tt.wantKey)
			}
		})
	}
}

func TestBridgeArgsGiveTheClientWhatItSends(t *testing.T) {
	tests := []struct {
		name   string
		args   transports.Args
		want   transports.Args // besides pin=
		pinned bool            // the self-signed certificate's pin= is printed
	}{
		{"url", transports.Args{argURL: testURL}, transports.Args{argURL: testURL, argServerName: testServerName, argVer: Version}, true},
		{"url with a port", transports.Args{argURL: "https://" + testServerName + ":8443" + testPath},
			transports.Args{argURL: "https://" + testServerName + ":8443" + testPath, argServerName: testServerName, argVer: Version}, true},
		{"the operator's certificate", ownFront(t), transports.Args{argURL: testURL, argServerName: testServerName, argVer: Version}, false},
		{"behind nginx", behindNginxArgs(), transports.Args{argURL: testURL, argServerName: testServerName, argVer: Version}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := listenT(t, "127.0.0.1:0", tt.args)
			defer ln.Close()
			got := ln.BridgeArgs()
			if _, err := trust.ParsePins(got[trust.PinArg]); (err == nil) != tt.pinned {
				t.Errorf("BridgeArgs pin=%q; want a pin: %v", got[trust.PinArg], tt.pinned)
			}
			delete(got, trust.PinArg)
			if len(got) != len(tt.want) {
				t.Fatalf("BridgeArgs() = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("BridgeArgs() = %v, want %v", got, tt.want)
				}
			}
			if _, err := New(nil).NewDialer("203.0.113.5:443", got); err != nil {
				t.Fatalf("the printed arguments do not make a dialer: %v", err)
			}
		})
	}
}

func TestGeneratedPathIsSecretAndKept(t *testing.T) {
	dir := t.TempDir()
	args := transports.Args{argServerName: testServerName}
	first := listenT2(t, dir, args)
	second := listenT2(t, dir, args)
	if first != second {
		t.Fatalf("the path changed across restarts: %s, then %s", first, second)
	}
	u, err := parseURL(first)
	if err != nil {
		t.Fatal(err)
	}
	// 20 random bytes in base32 are 32 characters: 160 bits.
	if n := len(u.Path) - 1; n < 32 {
		t.Fatalf("generated path %q has %d characters, want at least 32 (160 bits)", u.Path, n)
	}
	st, err := os.Stat(filepath.Join(dir, "secret-path"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("secret-path has mode %v, want 0600", st.Mode().Perm())
	}
	if other := listenT2(t, t.TempDir(), args); other == first {
		t.Fatalf("two state directories generated the same path %s", other)
	}
}

// listenT2 starts and stops a listener with stateDir and returns its bridge url=.
func listenT2(t *testing.T, stateDir string, args transports.Args) string {
	t.Helper()
	ln, err := New(nil).Listen(t.Context(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: args, StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.BridgeArgs()[argURL]
}
