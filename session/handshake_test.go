package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// craftHello builds a valid client hello for cc without running a client.
func craftHello(t testing.TB, cc *ClientConfig) []byte {
	t.Helper()
	pub, _, err := kemScheme.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pub.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	hello, _, err := buildClientHello(cc, appendEndpoint(nil, cc.Endpoint), &clientHelloBody{kind: kindNew, publicKey: pb}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return hello
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestServerRejectsBadHellosWithoutAnswering(t *testing.T) {
	cc, _ := testConfigs()
	curl := []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1:4433\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\n\r\n")
	badLength := func() []byte {
		h := craftHello(t, cc)
		hk, err := deriveHelloKeys(&cc.Secret, h[:randomSize], h[randomSize:randomSize+markSize])
		if err != nil {
			t.Fatal(err)
		}
		ml := maskedLen(maxHelloBody+1, hk.clientMask)
		copy(h[randomSize+markSize:], ml[:])
		return h
	}
	tampered := func() []byte {
		h := craftHello(t, cc)
		h[helloPrefixSize+100] ^= 1
		return h
	}
	cases := []struct {
		name     string
		input    func() []byte
		eof      bool // the peer ends its side after the input
		reason   string
		consumed int // bytes of input Server reads; -1 for all
	}{
		{"nothing then EOF", func() []byte { return nil }, true, "short", 0},
		{"20 bytes then EOF", func() []byte { return randomBytes(20) }, true, "short", 20},
		{"an HTTP request", func() []byte { return curl }, false, "mark", helloPrefixSize},
		{"random bytes", func() []byte { return randomBytes(3000) }, false, "mark", helloPrefixSize},
		{"valid mark, oversized length", badLength, false, "malformed", helloPrefixSize},
		{"tampered body", tampered, false, "malformed", -1},
		{"truncated body", func() []byte { return craftHello(t, cc)[:700] }, true, "short", -1},
	}
	for _, c := range carriers {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				checkGoroutines(t)
				_, sc := testConfigs()
				so := startServer(t, c, context.Background(), sc)
				input := tc.input()
				go func() {
					so.client.Write(input)
					if tc.eof {
						closeWrite(so.client)
					}
				}()
				err := so.wait(t)
				if got := helloReason(err); got != tc.reason {
					t.Fatalf("Server error %v: reason %q, want %q", err, got, tc.reason)
				}
				want := input
				if tc.consumed >= 0 {
					want = input[:tc.consumed]
				}
				if got := consumed(err); !bytes.Equal(got, want) {
					t.Errorf("Consumed holds %d bytes, want the first %d of the input", len(got), len(want))
				}
				if n := so.written.Load(); n != 0 {
					t.Errorf("Server wrote %d bytes to a bad hello, want none", n)
				}
				// What Server did not read is still on the carrier, for the decoy.
				if rest := input[len(want):]; len(rest) > 0 {
					so.server.SetReadDeadline(time.Now().Add(hangTimeout))
					got := make([]byte, len(rest))
					if _, err := io.ReadFull(so.server, got); err != nil || !bytes.Equal(got, rest) {
						t.Errorf("the %d bytes after the consumed ones were not left on the carrier (err %v)", len(rest), err)
					}
				}
			})
		}
	}
}

func TestHandshakeFailures(t *testing.T) {
	// Clock values are chosen against the one-minute slots: the gateway's clock sits
	// at the last second of a slot, so a client 121 s behind is in a slot the
	// gateway tries (rejected as stale), and one 10 min behind is not (as a bad mark).
	gatewayNow := time.Unix(1_800_000_000/60*60+59, 0)
	at := func(t time.Time) func() time.Time { return func() time.Time { return t } }
	other := testIdentity(9)
	cases := []struct {
		name         string
		change       func(*ClientConfig, *ServerConfig)
		serverReason string // "" when the gateway accepts the hello
		clientErr    error
	}{
		{"wrong secret", func(c *ClientConfig, _ *ServerConfig) { c.Secret = testSecret(99) }, "mark", ErrNoAnswer},
		{"another address", func(c *ClientConfig, _ *ServerConfig) { c.Endpoint.Address = "127.0.0.1:4434" }, "mark", ErrNoAnswer},
		{"another transport", func(c *ClientConfig, _ *ServerConfig) { c.Endpoint.Transport = "obfs4" }, "mark", ErrNoAnswer},
		{"another server name", func(c *ClientConfig, _ *ServerConfig) { c.Endpoint.ServerName = "cdn.example.net" }, "mark", ErrNoAnswer},
		{"client 121 s behind", func(c *ClientConfig, s *ServerConfig) {
			s.Now, c.Now = at(gatewayNow), at(gatewayNow.Add(-121*time.Second))
		}, "stale", ErrNoAnswer},
		{"client 121 s ahead", func(c *ClientConfig, s *ServerConfig) {
			s.Now, c.Now = at(gatewayNow.Add(-59*time.Second)), at(gatewayNow.Add(62*time.Second))
		}, "stale", ErrNoAnswer},
		{"client 10 min behind", func(c *ClientConfig, s *ServerConfig) {
			s.Now, c.Now = at(gatewayNow), at(gatewayNow.Add(-10*time.Minute))
		}, "mark", ErrNoAnswer},
		{"client 119 s behind", func(c *ClientConfig, s *ServerConfig) {
			s.Now, c.Now = at(gatewayNow), at(gatewayNow.Add(-119*time.Second))
		}, "", nil},
		{"wrong gateway key", func(c *ClientConfig, _ *ServerConfig) {
			c.GatewayKey = other.Public().(ed25519.PublicKey)
		}, "", ErrAuth},
		{"gateway with another identity", func(_ *ClientConfig, s *ServerConfig) { s.Identity = other }, "", ErrAuth},
		{"first of two secrets", func(c *ClientConfig, _ *ServerConfig) { c.Secret = testSecret(3) }, "", nil},
	}
	for _, c := range carriers {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				checkGoroutines(t)
				cc, sc := testConfigs()
				tc.change(cc, sc)
				r := handshake(t, c, cc, sc)
				if got := helloReason(r.serverErr); got != tc.serverReason {
					t.Errorf("gateway: error %v, reason %q, want %q", r.serverErr, got, tc.serverReason)
				}
				if tc.serverReason != "" && r.serverWrote != 0 {
					t.Errorf("gateway wrote %d bytes to a rejected hello, want none", r.serverWrote)
				}
				if tc.serverReason == "" && r.serverErr != nil {
					t.Errorf("gateway: unexpected error %v", r.serverErr)
				}
				if !errors.Is(r.clientErr, tc.clientErr) || (tc.clientErr == nil && r.clientErr != nil) {
					t.Errorf("client: error %v, want %v", r.clientErr, tc.clientErr)
				}
			})
		}
	}
}

func TestReplayedHelloIsRejected(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			checkGoroutines(t)
			cc, sc := testConfigs()
			r := mustHandshake(t, c, cc, sc)
			hello := r.clientHello
			if len(hello) < helloPrefixSize+clientHelloFixed {
				t.Fatalf("captured %d bytes of client hello", len(hello))
			}

			cases := []struct {
				name   string
				server func(*ServerConfig)
				reason string
			}{
				{"same listener", func(*ServerConfig) {}, "replay"},
				{"another listener", func(s *ServerConfig) { s.Endpoint.Address = "127.0.0.1:4434" }, "mark"},
				{"another edge", func(s *ServerConfig) { s.Replay = NewReplayCache(0); s.Endpoint.Address = "198.51.100.7:443" }, "mark"},
			}
			for _, tc := range cases {
				s2 := *sc
				tc.server(&s2)
				so := startServer(t, c, context.Background(), &s2)
				go so.client.Write(hello)
				err := so.wait(t)
				if got := helloReason(err); got != tc.reason {
					t.Errorf("%s: replayed hello gave %v, reason %q, want %q", tc.name, err, got, tc.reason)
				}
				if n := so.written.Load(); n != 0 {
					t.Errorf("%s: gateway answered a replayed hello with %d bytes", tc.name, n)
				}
			}
		})
	}
}

func TestServerObeysContext(t *testing.T) {
	cc, _ := testConfigs()
	hello := craftHello(t, cc)
	cases := []struct {
		name   string
		input  []byte
		cancel bool // cancel once Server has read the input, instead of a deadline
	}{
		{"silent peer, deadline", nil, false},
		{"silent peer, cancelled", nil, true},
		{"stalls in the prefix, deadline", hello[:10], false},
		{"stalls in the prefix, cancelled", hello[:10], true},
		{"stalls in the body, deadline", hello[:400], false},
		{"stalls in the body, cancelled", hello[:400], true},
	}
	for _, c := range carriers {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				checkGoroutines(t)
				_, sc := testConfigs()
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				if tc.cancel {
					ctx, cancel = context.WithCancel(context.Background())
				}
				defer cancel()
				so := startServer(t, c, ctx, sc)
				if len(tc.input) > 0 {
					if _, err := so.client.Write(tc.input); err != nil {
						t.Fatal(err)
					}
				}
				if tc.cancel {
					waitFor(t, "Server to read the input", func() bool { return so.read.Load() == int64(len(tc.input)) })
					cancel()
				}
				err := so.wait(t)
				if got := helloReason(err); got != "timeout" {
					t.Fatalf("Server error %v: reason %q, want \"timeout\"", err, got)
				}
				// With a deadline Server may not have read everything yet; it cannot
				// have read more, and what it read is what was sent.
				got := consumed(err)
				if tc.cancel && len(got) != len(tc.input) || !bytes.HasPrefix(tc.input, got) {
					t.Errorf("Consumed holds %d bytes, want the %d sent", len(got), len(tc.input))
				}
				if n := so.written.Load(); n != 0 {
					t.Errorf("Server wrote %d bytes, want none", n)
				}
				// The carrier is left without a deadline for the decoy.
				go so.client.Write([]byte("more"))
				so.server.SetReadDeadline(time.Time{})
				more := make([]byte, 4)
				if _, err := io.ReadFull(so.server, more); err != nil {
					t.Errorf("read from the carrier after Server returned: %v", err)
				}
			})
		}
	}
}

func TestClientErrorsWithoutValidAnswer(t *testing.T) {
	cases := []struct {
		name   string
		answer func(net.Conn)
		cancel bool
		want   []error
	}{
		{"gateway silent past the deadline", func(net.Conn) {}, false, []error{ErrNoAnswer, context.DeadlineExceeded}},
		{"gateway silent, cancelled", func(net.Conn) {}, true, []error{ErrNoAnswer, context.Canceled}},
		{"gateway closes", func(c net.Conn) { c.Close() }, false, []error{ErrNoAnswer}},
		{"gateway answers garbage", func(c net.Conn) { c.Write(randomBytes(3000)); c.Close() }, false, []error{ErrNoAnswer}},
	}
	for _, c := range carriers {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				checkGoroutines(t)
				cc, _ := testConfigs()
				cconn, sconn := c.pair(t)
				defer cconn.Close()
				defer sconn.Close()
				go func() {
					buf := make([]byte, 100)
					io.ReadFull(sconn, buf)
					tc.answer(sconn)
					io.Copy(io.Discard, sconn)
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				if tc.cancel {
					ctx, cancel = context.WithCancel(context.Background())
					time.AfterFunc(50*time.Millisecond, cancel)
				}
				defer cancel()
				_, err := Client(ctx, cconn, cc)
				for _, want := range tc.want {
					if !errors.Is(err, want) {
						t.Errorf("Client error %v, want it to wrap %v", err, want)
					}
				}
			})
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cc, sc := testConfigs()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	badClient := *cc
	badClient.GatewayKey = nil
	if _, err := Client(context.Background(), c, &badClient); err == nil {
		t.Error("Client with no gateway key succeeded")
	}
	for name, change := range map[string]func(*ServerConfig){
		"no secrets":   func(s *ServerConfig) { s.Secrets = nil },
		"no identity":  func(s *ServerConfig) { s.Identity = nil },
		"no replay":    func(s *ServerConfig) { s.Replay = nil },
		"huge address": func(s *ServerConfig) { s.Endpoint.Address = string(make([]byte, 70000)) },
	} {
		bad := *sc
		change(&bad)
		if _, _, err := Server(context.Background(), s, &bad); err == nil || helloReason(err) != "" {
			t.Errorf("Server with %s: error %v, want a config error", name, err)
		}
	}
}
