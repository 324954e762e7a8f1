package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/umbrella-edge/edge/client"
)

// The SOCKS5 wire, RFC 1928, spelled out for the tests.
var (
	greetNoAuth   = []byte{5, 1, 0}                                         // VER=5, one method: 0x00 no authentication
	greetUserPass = []byte{5, 1, 2}                                         // one method: 0x02 username/password
	greetBoth     = []byte{5, 2, 2, 0}                                      // both, username/password first
	chooseNoAuth  = []byte{5, 0}                                            // server picks 0x00
	chooseUser    = []byte{5, 2}                                            // server picks 0x02
	authOK        = []byte{1, 0}                                            // RFC 1929 status 0: success
	userPassAuth  = []byte{1, 5, 'a', 'l', 'i', 'c', 'e', 3, 'p', 'w', 'd'} // VER=1 ULEN UNAME PLEN PASSWD
)

// socksRequestBytes is VER CMD RSV ATYP DST.ADDR DST.PORT; host is sent as an IPv4 or
// IPv6 address when it is one, else as a domain name.
func socksRequestBytes(cmd byte, host string, port uint16) []byte {
	b := []byte{5, cmd, 0}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		b = append(append(b, 1), a.AsSlice()...)
	} else if err == nil {
		b = append(append(b, 4), a.AsSlice()...)
	} else {
		b = append(append(b, 3, byte(len(host))), host...)
	}
	return binary.BigEndian.AppendUint16(b, port)
}

// reply is VER REP RSV ATYP=IPv4 0.0.0.0:0.
func reply(code byte) []byte { return []byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0} }

func TestSOCKS5(t *testing.T) {
	hosts := map[string]string{"chat.example.org": "mls", "10.0.0.7": "mls", "2001:db8::7": "probe"}
	refuse := func(err error) DialFunc {
		return func(context.Context, string) (net.Conn, error) { return nil, err }
	}
	tests := []struct {
		name       string
		dial       DialFunc // nil: the echo backend
		greet      []byte
		wantChoice []byte
		auth       []byte // sent after the choice when non-nil
		request    []byte
		wantReply  []byte
		wantDialed []string // services the echo backend was asked for
	}{
		{name: "domain naming a service connects", greet: greetNoAuth, wantChoice: chooseNoAuth,
			request: socksRequestBytes(1, "mls", 443), wantReply: reply(0), wantDialed: []string{"mls"}},
		{name: "host mapped in config connects to its service", greet: greetNoAuth, wantChoice: chooseNoAuth,
			request: socksRequestBytes(1, "chat.example.org", 443), wantReply: reply(0), wantDialed: []string{"mls"}},
		{name: "IPv4 literal mapped via resolver connects", greet: greetNoAuth, wantChoice: chooseNoAuth,
			request: socksRequestBytes(1, "10.0.0.7", 80), wantReply: reply(0), wantDialed: []string{"mls"}},
		{name: "IPv6 literal mapped via resolver connects", greet: greetNoAuth, wantChoice: chooseNoAuth,
			request: socksRequestBytes(1, "2001:db8::7", 80), wantReply: reply(0), wantDialed: []string{"probe"}},
		{name: "username/password is accepted and ignored", greet: greetUserPass, wantChoice: chooseUser,
			auth: userPassAuth, request: socksRequestBytes(1, "mls", 443), wantReply: reply(0), wantDialed: []string{"mls"}},
		{name: "no authentication is preferred when both are offered", greet: greetBoth, wantChoice: chooseNoAuth,
			request: socksRequestBytes(1, "mls", 443), wantReply: reply(0), wantDialed: []string{"mls"}},
		{name: "unmapped domain is refused by ruleset", greet: greetNoAuth, wantChoice: chooseNoAuth,
			request: socksRequestBytes(1, "example.com", 443), wantReply: reply(2)},
		{name: "unmapped loopback address is refused, never dialled", greet: greetNoAuth, wantChoice: chooseNoAuth,
			request: socksRequestBytes(1, "127.0.0.1", 22), wantReply: reply(2)},
		{name: "BIND is an unsupported command", greet: greetNoAuth, wantChoice: chooseNoAuth,
			request: socksRequestBytes(2, "mls", 443), wantReply: reply(7)},
		{name: "UDP ASSOCIATE is an unsupported command", greet: greetNoAuth, wantChoice: chooseNoAuth,
			request: socksRequestBytes(3, "mls", 443), wantReply: reply(7)},
		{name: "unknown address type is refused", greet: greetNoAuth, wantChoice: chooseNoAuth,
			request: []byte{5, 1, 0, 9, 1, 2, 3, 4}, wantReply: reply(8)},
		{name: "no acceptable method gets 0xFF", greet: []byte{5, 1, 0x80}, wantChoice: []byte{5, 0xFF}},
		{name: "unreachable gateway is host unreachable", dial: unreachableDial(t), greet: greetNoAuth,
			wantChoice: chooseNoAuth, request: socksRequestBytes(1, "mls", 443), wantReply: reply(4)},
		{name: "dial wrapping ErrUnreachable is host unreachable",
			dial: refuse(fmt.Errorf("all bridges failed: %w", ErrUnreachable)), greet: greetNoAuth,
			wantChoice: chooseNoAuth, request: socksRequestBytes(1, "mls", 443), wantReply: reply(4)},
		{name: "service unknown to the gateway is not allowed",
			dial: refuse(fmt.Errorf("client: open: %w", client.ErrUnknownService)), greet: greetNoAuth,
			wantChoice: chooseNoAuth, request: socksRequestBytes(1, "mls", 443), wantReply: reply(2)},
		{name: "backend down is connection refused",
			dial: refuse(fmt.Errorf("client: open: %w", client.ErrServiceUnavailable)), greet: greetNoAuth,
			wantChoice: chooseNoAuth, request: socksRequestBytes(1, "mls", 443), wantReply: reply(5)},
		{name: "other dial error is general failure", dial: refuse(errors.New("stream limit")), greet: greetNoAuth,
			wantChoice: chooseNoAuth, request: socksRequestBytes(1, "mls", 443), wantReply: reply(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			backend := newEchoBackend(t)
			dial := tt.dial
			if dial == nil {
				dial = backend.Dial
			}
			addr, _ := serve(t, &Server{Handler: &SOCKS5{Dial: dial, Resolve: StaticResolver(hosts)}})
			app := dialApp(t, addr)

			mustWrite(t, app, tt.greet)
			if got := mustRead(t, app, len(tt.wantChoice)); !bytes.Equal(got, tt.wantChoice) {
				t.Fatalf("method choice = %x, want %x", got, tt.wantChoice)
			}
			if tt.auth != nil {
				mustWrite(t, app, tt.auth)
				if got := mustRead(t, app, 2); !bytes.Equal(got, authOK) {
					t.Fatalf("auth status = %x, want %x", got, authOK)
				}
			}
			if tt.request != nil {
				mustWrite(t, app, tt.request)
				if got := mustRead(t, app, len(tt.wantReply)); !bytes.Equal(got, tt.wantReply) {
					t.Fatalf("reply = %x, want %x", got, tt.wantReply)
				}
			}
			if !slices.Equal(backend.Dialed(), tt.wantDialed) {
				t.Errorf("services dialled = %q, want %q", backend.Dialed(), tt.wantDialed)
			}
			if tt.wantReply == nil || tt.wantReply[1] != 0 {
				expectClosed(t, app)
				return
			}
			expectEcho(t, app, "hello through socks")
		})
	}
}

// unreachableDial dials a loopback port nobody listens on, as a client whose gateway
// is down would.
func unreachableDial(t *testing.T) DialFunc {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

func TestSOCKS5GreetingAndRequestInOneWrite(t *testing.T) {
	// Some apps send the request without waiting for the method choice.
	checkNoLeaks(t)
	backend := newEchoBackend(t)
	addr, _ := serve(t, &Server{Handler: &SOCKS5{Dial: backend.Dial, Resolve: StaticResolver(nil, "mls")}})
	app := dialApp(t, addr)
	mustWrite(t, app, append(slices.Clone(greetNoAuth), socksRequestBytes(1, "mls", 1)...))
	want := append(slices.Clone(chooseNoAuth), reply(0)...)
	if got := mustRead(t, app, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("answers = %x, want %x", got, want)
	}
	expectEcho(t, app, "pipelined")
}
