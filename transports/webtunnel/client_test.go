package webtunnel

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
)

// h2Server is a TLS server that picks HTTP/2, as a front with http2 on would.
func h2Server(t *testing.T) string {
	cert, key := webtest.Certificate(t, testServerName)
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

func TestDialFailsClearlyWhenTheFrontIsWrong(t *testing.T) {
	ln := listenT(t, "127.0.0.1:0", ownFront(t))
	defer ln.Close()
	wrongPath, err := New(webtest.Roots(t)).NewDialer(ln.Addr().String(), transports.Args{argURL: "https://" + testServerName + "/not-the-path"})
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

func TestDataRightAfterTheUpgradeIsKept(t *testing.T) {
	ln := listenT(t, "127.0.0.1:0", ownFront(t))
	defer ln.Close()
	// A client that sends its first data in the same write as the request, and a
	// server that answers in the same write as its 101, must both keep those bytes.
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := tls.Client(raw, &tls.Config{ServerName: testServerName, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(append(upgradeRequestFor(t), "hello"...)); err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make([]byte, 5)
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "hello" {
		t.Fatalf("server read %q, %v; want the bytes sent with the request", got, err)
	}
}

func upgradeRequestFor(t *testing.T) []byte {
	u, err := parseURL(testURL)
	if err != nil {
		t.Fatal(err)
	}
	return upgradeRequest(u)
}
