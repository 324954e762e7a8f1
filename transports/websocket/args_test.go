package websocket

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/tlskit"
	"github.com/umbrella-edge/edge/transports/trust"
)

func TestNewDialerNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name    string
		args    transports.Args
		wantKey string
		wantErr error
	}{
		{"nothing to ask for", transports.Args{argPath: testPath}, argHost, transports.ErrMissingArg},
		{"no path", transports.Args{argServerName: testFront}, argPath, transports.ErrMissingArg},
		{"bad path", transports.Args{argServerName: testFront, argPath: "/a?b"}, argPath, httpfront.ErrBadPath},
		{"IP host", transports.Args{argHost: "203.0.113.5", argPath: testPath, argServerName: testFront}, argHost, nil},
		{"url and host", transports.Args{argURL: "wss://" + testFront + testPath, argHost: testFront}, argHost, nil},
		{"url and path", transports.Args{argURL: "wss://" + testFront + testPath, argPath: testPath}, argPath, nil},
		{"ws url", transports.Args{argURL: "ws://" + testFront + testPath}, argURL, nil},
		{"unknown argument", transports.Args{argServerName: testFront, argPath: testPath, "front": "x"}, "front", nil},
		{"unknown fingerprint", transports.Args{argServerName: testFront, argPath: testPath, "fp": "opera"}, "fp", tlskit.ErrUnknownFingerprint},
		{"IP server name", transports.Args{argHost: testFront, argServerName: "203.0.113.5", argPath: testPath}, argServerName, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nil).NewDialer("203.0.113.5:443", tt.args)
			var ae *transports.ArgError
			if !errors.As(err, &ae) || ae.Key != tt.wantKey {
				t.Fatalf("NewDialer(%v) = %v, want an ArgError naming %s", tt.args, err, tt.wantKey)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewDialer(%v) = %v, want it to wrap %v", tt.args, err, tt.wantErr)
			}
		})
	}
}

// TestNewDialerKeepsTheCDNsNamesApart checks the three names of a CDN bridge: the
// address dialled, the TLS server name and the HTTP Host.
func TestNewDialerKeepsTheCDNsNamesApart(t *testing.T) {
	tests := []struct {
		name           string
		args           transports.Args
		wantServerName string
		wantURL        string
	}{
		{"servername alone", transports.Args{argServerName: testFront, argPath: testPath}, testFront, "https://" + testFront + testPath},
		{"host alone", transports.Args{argHost: testFront, argPath: testPath}, testFront, "https://" + testFront + testPath},
		{"fronted", transports.Args{argServerName: "allowed.example", argHost: "hidden.example", argPath: testPath}, "allowed.example", "https://hidden.example" + testPath},
		{"url", transports.Args{argURL: "wss://hidden.example:8443" + testPath, argServerName: "allowed.example"}, "allowed.example", "https://hidden.example:8443" + testPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(nil).NewDialer("198.51.100.1:443", tt.args)
			if err != nil {
				t.Fatal(err)
			}
			got := d.(*dialer)
			if got.addr != "198.51.100.1:443" || got.tls.ServerName() != tt.wantServerName || got.url != tt.wantURL {
				t.Fatalf("dials %s with server name %s for %s; want 198.51.100.1:443, %s, %s", got.addr, got.tls.ServerName(), got.url, tt.wantServerName, tt.wantURL)
			}
			if ua := got.header.Get("User-Agent"); ua != userAgents[got.tls.Fingerprint()] || ua == "" {
				t.Fatalf("User-Agent %q for fingerprint %s", ua, got.tls.Fingerprint())
			}
		})
	}
}

func TestListenNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		args    transports.Args
		wantKey string
	}{
		{"unknown argument", "127.0.0.1:0", transports.Args{argServerName: testOrigin, "url": "https://x.example/y"}, "url"},
		{"front with a port", "127.0.0.1:0", transports.Args{argServerName: testOrigin, argFront: testFront + ":443"}, argFront},
		{"IP front", "127.0.0.1:0", transports.Args{argServerName: testOrigin, argFront: "203.0.113.5"}, argFront},
		{"bad host", "127.0.0.1:0", transports.Args{argServerName: testOrigin, argHost: "a b"}, argHost},
		{"plain HTTP on a public address", "203.0.113.5:8080", transports.Args{"tls": "false", argServerName: testFront}, "tls"},
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
		pinned bool            // clients reach the self-signed listener itself, by its pin=
	}{
		{"own front", transports.Args{argServerName: testFront, "path": testPath}, transports.Args{argServerName: testFront, argPath: testPath}, true},
		{"own front, the operator's certificate", ownFront(t), transports.Args{argServerName: testFront, argPath: testPath}, false},
		{"origin behind a CDN", originArgs(), transports.Args{argServerName: testFront, argPath: testPath}, false},
		{"fronted", transports.Args{argServerName: testOrigin, "path": testPath, argHost: "hidden.example", argFront: "allowed.example"},
			transports.Args{argServerName: "allowed.example", argHost: "hidden.example", argPath: testPath}, false},
		{"host with a port", transports.Args{argServerName: testOrigin, "path": testPath, argHost: "hidden.example:8443"},
			transports.Args{argServerName: "hidden.example", argHost: "hidden.example:8443", argPath: testPath}, false},
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

func TestDialFailsClearlyWhenTheFrontIsWrong(t *testing.T) {
	ln := listenT(t, "127.0.0.1:0", ownFront(t))
	defer ln.Close()
	wrongPath, err := New(webtest.Roots(t)).NewDialer(ln.Addr().String(), transports.Args{argServerName: testFront, argPath: "/not-the-path"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		d    transports.Dialer
		want error
	}{
		{"server picks HTTP/2", dialerTo(t, h2Server(t)), ErrHTTP2},
		{"wrong path gets the website", wrongPath, ErrNoUpgrade},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.d.Dial(t.Context())
			if c != nil {
				c.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Dial = %v, want %v", err, tt.want)
			}
		})
	}
}

// h2Server is a TLS server that picks HTTP/2, as a CDN edge with http2 on would.
func h2Server(t *testing.T) string {
	cert, key := webtest.Certificate(t, testFront)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Read(make([]byte, 1))
			}()
		}
	}()
	return ln.Addr().String()
}
