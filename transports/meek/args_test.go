package meek

import (
	"context"
	"crypto/tls"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

func TestNewDialerNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name string
		addr string
		args transports.Args
		key  string // the argument the error must name; "" for the address
	}{
		{"typo", "192.0.2.1:443", transports.Args{"servername": "a.example", "urll": "https://b.example/m"}, "urll"},
		{"IP address without servername", "192.0.2.1:443", transports.Args{"url": "https://b.example/m"}, "servername"},
		{"servername is an IP", "a.example:443", transports.Args{"servername": "192.0.2.1", "path": "/m"}, "servername"},
		{"url not https", "a.example:443", transports.Args{"url": "http://b.example/m"}, "url"},
		{"url with a query", "a.example:443", transports.Args{"url": "https://b.example/m?x=1"}, "url"},
		{"url and host", "a.example:443", transports.Args{"url": "https://b.example/m", "host": "c.example"}, "host"},
		{"url and path", "a.example:443", transports.Args{"url": "https://b.example/m", "path": "/x"}, "path"},
		{"host with a space", "a.example:443", transports.Args{"host": "b .example", "path": "/m"}, "host"},
		{"host with a bad port", "a.example:443", transports.Args{"host": "b.example:99999", "path": "/m"}, "host"},
		{"relative path", "a.example:443", transports.Args{"path": "x"}, "path"},
		{"path with a percent", "a.example:443", transports.Args{"path": "/a%20b"}, "path"},
		{"unknown fingerprint", "a.example:443", transports.Args{"fp": "netscape", "path": "/m"}, "fp"},
		{"no path", "a.example:443", transports.Args{"host": "b.example"}, "url"},
		{"path of / alone", "a.example:443", transports.Args{"url": "https://b.example/"}, "url"},
		{"no port", "a.example", transports.Args{"path": "/m"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nil).NewDialer(tt.addr, tt.args)
			if err == nil {
				t.Fatalf("NewDialer(%q, %v) succeeded", tt.addr, tt.args)
			}
			var ae *transports.ArgError
			switch {
			case tt.key == "" && errors.As(err, &ae):
				t.Fatalf("NewDialer(%q) = %v; want an error about the address, not argument %s=", tt.addr, err, ae.Key)
			case tt.key != "" && (!errors.As(err, &ae) || ae.Key != tt.key):
				t.Fatalf("NewDialer(%q, %v) = %v; want an ArgError naming %s=", tt.addr, tt.args, err, tt.key)
			}
		})
	}
}

func TestNewDialerKeepsTheFrontAndTheServiceApart(t *testing.T) {
	tests := []struct {
		name string
		addr string
		args transports.Args
		sni  string
		want target
	}{
		{"all from the address", "meek.example:443", transports.Args{"path": "/m"}, "meek.example", target{"meek.example", "/m"}},
		{"fronted by url", "192.0.2.1:443", transports.Args{"servername": "front.example", "url": "https://meek.example/m/"},
			"front.example", target{"meek.example", "/m/"}},
		{"url with a port", "front.example:443", transports.Args{"url": "https://meek.example:8443/m"}, "front.example", target{"meek.example:8443", "/m"}},
		{"host and path", "front.example:443", transports.Args{"host": "meek.example", "path": "/m"}, "front.example", target{"meek.example", "/m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := newDialer(tt.addr, tt.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d.addr != tt.addr || d.tls.ServerName() != tt.sni || d.target != tt.want {
				t.Fatalf("dials %s with SNI %s and requests %+v; want %s, %s, %+v", d.addr, d.tls.ServerName(), d.target, tt.addr, tt.sni, tt.want)
			}
		})
	}
}

func TestListenNamesTheBadArgument(t *testing.T) {
	tests := []struct {
		name string
		addr string
		args transports.Args
		key  string
	}{
		{"typo", "127.0.0.1:0", transports.Args{"servername": "a.example", "max-session": "3"}, "max-session"},
		{"no certificate and no name", "127.0.0.1:0", transports.Args{}, "servername"},
		{"plain without the front's name", "127.0.0.1:0", transports.Args{"tls": "false"}, "servername"},
		{"plain on a public address", "0.0.0.0:0", transports.Args{"tls": "false", "servername": "a.example"}, "tls"},
		{"plain with a certificate", "127.0.0.1:0", transports.Args{"tls": "false", "servername": "a.example", "cert": "/x.pem", "key": "/x.key"}, "cert"},
		{"allow-public-plain with TLS", "127.0.0.1:0", transports.Args{"servername": "a.example", "allow-public-plain": "true"}, "allow-public-plain"},
		{"tls not a boolean", "127.0.0.1:0", transports.Args{"servername": "a.example", "tls": "maybe"}, "tls"},
		{"max-sessions zero", "127.0.0.1:0", transports.Args{"servername": "a.example", "max-sessions": "0"}, "max-sessions"},
		{"url not https", "127.0.0.1:0", transports.Args{"servername": "a.example", "url": "ftp://a.example/m"}, "url"},
		{"url and path", "127.0.0.1:0", transports.Args{"servername": "a.example", "url": "https://a.example/m", "path": "/n"}, "path"},
		{"path of / alone", "127.0.0.1:0", transports.Args{"servername": "a.example", "path": "/"}, "path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{Addr: tt.addr, Args: tt.args})
			if err == nil {
				ln.Close()
				t.Fatalf("Listen(%s, %v) succeeded", tt.addr, tt.args)
			}
			var ae *transports.ArgError
			if !errors.As(err, &ae) || ae.Key != tt.key {
				t.Fatalf("Listen(%s, %v) = %v; want an ArgError naming %s=", tt.addr, tt.args, err, tt.key)
			}
		})
	}
}

func TestBridgeArgsGiveTheClientWhatItSends(t *testing.T) {
	tests := []struct {
		name   string
		addr   string
		args   transports.Args
		want   transports.Args // besides pin=
		pinned bool            // the self-signed certificate's pin= is printed
	}{
		{"own front, self-signed, with a path", "127.0.0.1:0", transports.Args{"servername": "a.example", "path": "/m"},
			transports.Args{"servername": "a.example", "url": "https://a.example/m"}, true},
		{"own front with a path and fp", "127.0.0.1:0", transports.Args{"servername": "a.example", "path": "/m/", "fp": "firefox"},
			transports.Args{"servername": "a.example", "url": "https://a.example/m/", "fp": "firefox"}, true},
		{"behind a fronting CDN", "127.0.0.1:0", transports.Args{"tls": "false", "servername": "front.example", "url": "https://meek.example/m/"},
			transports.Args{"servername": "front.example", "url": "https://meek.example/m/"}, false},
		{"plain on a public address, allowed", "0.0.0.0:0", transports.Args{"tls": "false", "allow-public-plain": "true", "servername": "front.example", "host": "meek.example", "path": "/m"},
			transports.Args{"servername": "front.example", "url": "https://meek.example/m"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{Addr: tt.addr, Args: tt.args})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := ln.BridgeArgs()
			if _, err := trust.ParsePins(got[trust.PinArg]); (err == nil) != tt.pinned {
				t.Errorf("BridgeArgs pin=%q; want a pin: %v", got[trust.PinArg], tt.pinned)
			}
			delete(got, trust.PinArg)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("BridgeArgs = %v, want %v", got, tt.want)
			}
			// What the listener prints, a client accepts.
			if _, err := New(nil).NewDialer("192.0.2.1:443", ln.BridgeArgs()); err != nil {
				t.Fatalf("NewDialer with the printed arguments: %v", err)
			}
		})
	}
}

func TestListenGeneratesASecretPathAndKeepsIt(t *testing.T) {
	dir := t.TempDir()
	var urls []string
	for range 2 {
		ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0", StateDir: dir, Args: transports.Args{"servername": "a.example"}})
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, ln.BridgeArgs()["url"])
		ln.Close()
	}
	if len(urls[0]) < len("https://a.example/")+20 || urls[0] != urls[1] {
		t.Fatalf("two starts on one state directory printed url=%s and url=%s; want one long random path, kept", urls[0], urls[1])
	}
}

func TestDialFailsClearlyWhenTheFrontSpeaksHTTP2(t *testing.T) {
	cert, key := webtest.Certificate(t, testServerName)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
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
	d, err := New(webtest.Roots(t)).NewDialer(ln.Addr().String(), transports.Args{"servername": testServerName, "path": testPath})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial(t.Context())
	if c != nil {
		c.Close()
	}
	if !errors.Is(err, ErrHTTP2) {
		t.Fatalf("Dial to a front that picks h2 = %v, want ErrHTTP2", err)
	}
}
