package censor

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"reflect"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/quic"
	"github.com/umbrella-edge/edge/transports/trust"
)

// startQUICEcho runs the quic transport's listener for gateway.example, with its
// self-signed certificate, echoing every carrier; it returns its address and pin.
func startQUICEcho(t *testing.T) (addr, pin string) {
	t.Helper()
	ln, err := quic.New(nil).Listen(t.Context(), transports.ListenConfig{Addr: "127.0.0.2:0", Args: transports.Args{"servername": "gateway.example"}})
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
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String(), ln.BridgeArgs()[trust.PinArg]
}

func quicRoute(upstream string) Route {
	return Route{Name: "gw", Transport: "quic", Network: "udp", Upstream: upstream}
}

func TestMITMTerminatesQUIC(t *testing.T) {
	upstream, pin := startQUICEcho(t)
	dial := func(t *testing.T, c *Censor, cfg *tls.Config) error {
		d := &quic.Dialer{Addr: listenAddr(t, c, "gw"), TLS: cfg}
		conn, err := d.Dial(t.Context())
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.Write([]byte("secret"))
		got := make([]byte, 6)
		if _, err := io.ReadFull(conn, got); err != nil || string(got) != "secret" {
			t.Fatalf("echo through the interception: %q, %v", got, err)
		}
		return nil
	}

	t.Run("a client that trusts the censor's root is relayed", func(t *testing.T) {
		c := startCensor(t, []Route{quicRoute(upstream)}, &MITM{Names: []string{"gateway.example"}})
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(c.CACertPEM())
		if err := dial(t, c, quic.ClientTLS(trust.Verifier{ServerName: "gateway.example", Roots: roots})); err != nil {
			t.Fatalf("dial through the interception: %v", err)
		}
		waitDecision(t, c, by("mitm", Intercepted))
	})

	pinned, err := trust.ParsePins(pin)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		cfg   *tls.Config
		alert string
	}{
		{"Go's crypto/tls refuses it with bad_certificate", &tls.Config{ServerName: "gateway.example", NextProtos: []string{quic.ALPN}}, "bad certificate"},
		{"our quic transport refuses it as Chromium does", quic.ClientTLS(trust.Verifier{ServerName: "gateway.example", Pins: pinned}), "unknown certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := startCensor(t, []Route{quicRoute(upstream)}, &MITM{Names: []string{"gateway.example"}})
			if err := dial(t, c, tt.cfg); err == nil {
				t.Fatal("the handshake with the censor's certificate succeeded")
			}
			d := waitDecision(t, c, by("mitm", Refused))
			want := Reaction{Alert: tt.alert, Close: "connection_close"}
			if d.Reaction == nil || !reflect.DeepEqual(*d.Reaction, want) {
				t.Fatalf("decision %+v; want the reaction %v", d, want)
			}
		})
	}
}
