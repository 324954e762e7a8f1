package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestForwardCarriesBytesToItsService(t *testing.T) {
	checkNoLeaks(t)
	backend := newEchoBackend(t)
	addr, _ := serve(t, &Server{Handler: &Forward{Service: "mls", Dial: backend.Dial}})
	app := dialApp(t, addr)
	expectEcho(t, app, "\x00\x01 any protocol from the first byte")
	if got := backend.Dialed(); !slices.Equal(got, []string{"mls"}) {
		t.Errorf("services dialled = %q, want [mls]", got)
	}
}

func TestForwardClosesAppWhenDialFails(t *testing.T) {
	checkNoLeaks(t)
	addr, _ := serve(t, &Server{Handler: &Forward{Service: "mls", Dial: unreachableDial(t)}})
	expectClosed(t, dialApp(t, addr))
}

func TestRelayPropagatesHalfClose(t *testing.T) {
	// The app shuts its write side; the backend sees EOF, answers and shuts its own; the
	// app reads the answer, then EOF.
	checkNoLeaks(t)
	backend := newEchoBackend(t)
	addr, _ := serve(t, &Server{Handler: &Forward{Service: "mls", Dial: backend.Dial}})
	app := dialApp(t, addr)
	mustWrite(t, app, []byte("last words"))
	if err := app.CloseWrite(); err != nil {
		t.Fatalf("close write: %v", err)
	}
	got, err := io.ReadAll(app)
	if err != nil || string(got) != "last words" {
		t.Fatalf("after half-close read %q, %v; want the echo then EOF", got, err)
	}
	backend.waitEnded(t, 1)
}

func TestRelayCarriesLargeTransfersBothWays(t *testing.T) {
	checkNoLeaks(t)
	backend := newEchoBackend(t)
	addr, _ := serve(t, &Server{Handler: &Forward{Service: "mls", Dial: backend.Dial}})
	var wg sync.WaitGroup
	for i := range 4 {
		app := dialApp(t, addr)
		data := make([]byte, 512<<10)
		rand.Read(data)
		wg.Go(func() {
			go func() {
				app.Write(data)
				app.CloseWrite()
			}()
			got, err := io.ReadAll(app)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("conn %d: echoed %d bytes (%v), want the %d sent", i, len(got), err, len(data))
			}
		})
	}
	wg.Wait()
}

func TestShutdownClosesLiveConnections(t *testing.T) {
	checkNoLeaks(t)
	backend := newEchoBackend(t)
	srv := &Server{Handler: &SOCKS5{Dial: backend.Dial, Resolve: StaticResolver(nil, "mls")}}
	addr, stop := serve(t, srv)

	proxied := dialApp(t, addr)
	mustWrite(t, proxied, greetNoAuth)
	mustRead(t, proxied, 2)
	mustWrite(t, proxied, socksRequestBytes(1, "mls", 443))
	mustRead(t, proxied, 10)
	expectEcho(t, proxied, "before shutdown")
	silent := dialApp(t, addr) // connected, still negotiating
	mustWrite(t, silent, greetNoAuth[:1])

	stop()
	expectClosed(t, proxied)
	expectClosed(t, silent)
	backend.waitEnded(t, 1)
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Errorf("listener still accepts after shutdown")
	}
}

func TestSilentAppIsDroppedAfterRequestTimeout(t *testing.T) {
	checkNoLeaks(t)
	backend := newEchoBackend(t)
	for _, h := range []Handler{
		&SOCKS5{Dial: backend.Dial, Resolve: StaticResolver(nil, "mls")},
		&HTTPConnect{Dial: backend.Dial, Resolve: StaticResolver(nil, "mls")},
	} {
		addr, _ := serve(t, &Server{Handler: h, RequestTimeout: 50 * time.Millisecond})
		expectClosed(t, dialApp(t, addr))
	}
	if len(backend.Dialed()) != 0 {
		t.Errorf("silent apps dialled %q", backend.Dialed())
	}
}

func TestRequestTimeoutDoesNotCutAnEstablishedStream(t *testing.T) {
	checkNoLeaks(t)
	backend := newEchoBackend(t)
	timeout := 20 * time.Millisecond
	addr, _ := serve(t, &Server{Handler: &Forward{Service: "mls", Dial: backend.Dial}, RequestTimeout: timeout})
	app := dialApp(t, addr)
	expectEcho(t, app, "first")
	time.Sleep(5 * timeout) // idle past the negotiation deadline
	expectEcho(t, app, "still here")
}

func TestServeReturnsErrorWhenListenerCloses(t *testing.T) {
	checkNoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- (&Server{Handler: &Forward{Service: "mls"}}).Serve(context.Background(), ln) }()
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve = %v, want an error wrapping net.ErrClosed", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("Serve did not return after its listener closed")
	}
}

func TestServeWithoutHandlerIsAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := (&Server{}).Serve(context.Background(), ln); err == nil {
		t.Fatal("Serve without a Handler returned nil")
	}
}

func TestLogsNameRequestedHostsAtDebugLevelOnly(t *testing.T) {
	const private = "secret-host.example.org"
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			checkNoLeaks(t)
			backend := newEchoBackend(t)
			var buf syncBuffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
			resolve := StaticResolver(map[string]string{private: "mls"})
			addr, stop := serve(t, &Server{Handler: &SOCKS5{Dial: backend.Dial, Resolve: resolve}, Logger: log})
			// One proxied stream, one refused host, one failed dial.
			for _, host := range []string{private, private + ".evil"} {
				app := dialApp(t, addr)
				mustWrite(t, app, greetNoAuth)
				mustRead(t, app, 2)
				mustWrite(t, app, socksRequestBytes(1, host, 443))
				if code := mustRead(t, app, 10)[1]; code == 0 {
					expectEcho(t, app, "x")
				}
				app.Close()
			}
			stop()
			logged := buf.String()
			if !strings.Contains(logged, "request refused") {
				t.Fatalf("the refused host was not logged at all:\n%s", logged)
			}
			if got, want := strings.Contains(logged, private), level == slog.LevelDebug; got != want {
				t.Errorf("log at %v names the requested host: %v, want %v\n%s", level, got, want, logged)
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStaticResolver(t *testing.T) {
	resolve := StaticResolver(map[string]string{
		"chat.example.org": "mls",
		"10.0.0.7":         "mls",
		"2001:db8::7":      "probe",
	}, "status")
	tests := []struct {
		host, want string
		ok         bool
	}{
		{"mls", "mls", true},
		{"MLS.", "mls", true},
		{"probe", "probe", true},
		{"status", "status", true},
		{"chat.example.org", "mls", true},
		{"Chat.Example.ORG.", "mls", true},
		{"10.0.0.7", "mls", true},
		{"::ffff:10.0.0.7", "mls", true},
		{"2001:DB8:0::7", "probe", true},
		{"[2001:db8::7]", "probe", true},
		{"example.com", "", false},
		{"mls.example.com", "", false},
		{"127.0.0.1", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := resolve(tt.host)
		if got != tt.want || ok != tt.ok {
			t.Errorf("resolve(%q) = %q, %v; want %q, %v", tt.host, got, ok, tt.want, tt.ok)
		}
	}
}
