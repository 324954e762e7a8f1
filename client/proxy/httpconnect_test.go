package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
)

const connectOK = "HTTP/1.1 200 Connection established\r\n\r\n"

func TestHTTPConnect(t *testing.T) {
	failing := func(context.Context, string) (net.Conn, error) { return nil, errors.New("no bridge works") }
	tests := []struct {
		name       string
		dial       DialFunc // nil: the echo backend
		request    string
		wantStatus string // the response's status line
		wantDialed []string
	}{
		{name: "CONNECT to a service name opens the stream",
			request: "CONNECT mls:443 HTTP/1.1\r\nHost: mls:443\r\n\r\n", wantStatus: "HTTP/1.1 200 Connection established",
			wantDialed: []string{"mls"}},
		{name: "CONNECT to a mapped host opens its service",
			request:    "CONNECT chat.example.org:443 HTTP/1.1\r\nHost: chat.example.org:443\r\nUser-Agent: t\r\n\r\n",
			wantStatus: "HTTP/1.1 200 Connection established", wantDialed: []string{"mls"}},
		{name: "CONNECT to a mapped IPv6 literal opens its service",
			request:    "CONNECT [2001:db8::7]:443 HTTP/1.1\r\nHost: [2001:db8::7]:443\r\n\r\n",
			wantStatus: "HTTP/1.1 200 Connection established", wantDialed: []string{"probe"}},
		{name: "proxy credentials are ignored",
			request:    "CONNECT mls:443 HTTP/1.1\r\nHost: mls:443\r\nProxy-Authorization: Basic YTpi\r\n\r\n",
			wantStatus: "HTTP/1.1 200 Connection established", wantDialed: []string{"mls"}},
		{name: "HTTP/1.0 CONNECT opens the stream",
			request: "CONNECT mls:443 HTTP/1.0\r\n\r\n", wantStatus: "HTTP/1.1 200 Connection established",
			wantDialed: []string{"mls"}},
		{name: "unmapped host is forbidden",
			request: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", wantStatus: "HTTP/1.1 403 Forbidden"},
		{name: "GET through the proxy is not allowed",
			request: "GET http://mls/ HTTP/1.1\r\nHost: mls\r\n\r\n", wantStatus: "HTTP/1.1 405 Method Not Allowed"},
		{name: "target without port is a bad request",
			request: "CONNECT mls HTTP/1.1\r\nHost: mls\r\n\r\n", wantStatus: "HTTP/1.1 400 Bad Request"},
		{name: "garbage is a bad request",
			request: "\x16\x03\x01\x02\x00 hello\r\n\r\n", wantStatus: "HTTP/1.1 400 Bad Request"},
		{name: "failed dial is a bad gateway", dial: failing,
			request: "CONNECT mls:443 HTTP/1.1\r\nHost: mls:443\r\n\r\n", wantStatus: "HTTP/1.1 502 Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			backend := newEchoBackend(t)
			dial := tt.dial
			if dial == nil {
				dial = backend.Dial
			}
			resolve := StaticResolver(map[string]string{"chat.example.org": "mls", "2001:db8::7": "probe"})
			addr, _ := serve(t, &Server{Handler: &HTTPConnect{Dial: dial, Resolve: resolve}})
			app := dialApp(t, addr)

			mustWrite(t, app, []byte(tt.request))
			if strings.Contains(tt.wantStatus, " 200 ") {
				if got := string(mustRead(t, app, len(connectOK))); got != connectOK {
					t.Fatalf("response = %q, want %q", got, connectOK)
				}
				expectEcho(t, app, "hello through connect")
			} else {
				resp, err := io.ReadAll(app) // the proxy answers and hangs up
				if err != nil {
					t.Fatalf("read response: %v (got %q)", err, resp)
				}
				status, _, _ := strings.Cut(string(resp), "\r\n")
				if status != tt.wantStatus {
					t.Fatalf("status = %q, want %q (response %q)", status, tt.wantStatus, resp)
				}
				if tt.wantStatus == "HTTP/1.1 405 Method Not Allowed" && !strings.Contains(string(resp), "\r\nAllow: CONNECT\r\n") {
					t.Errorf("405 response %q lacks Allow: CONNECT", resp)
				}
			}
			if !slices.Equal(backend.Dialed(), tt.wantDialed) {
				t.Errorf("services dialled = %q, want %q", backend.Dialed(), tt.wantDialed)
			}
		})
	}
}

func TestHTTPConnectForwardsBytesSentWithTheRequest(t *testing.T) {
	// Clients may put the TLS hello in the same segment as the CONNECT.
	checkNoLeaks(t)
	backend := newEchoBackend(t)
	addr, _ := serve(t, &Server{Handler: &HTTPConnect{Dial: backend.Dial, Resolve: StaticResolver(nil, "mls")}})
	app := dialApp(t, addr)
	mustWrite(t, app, []byte("CONNECT mls:443 HTTP/1.1\r\nHost: mls:443\r\n\r\nearly bytes"))
	want := connectOK + "early bytes"
	if got := string(mustRead(t, app, len(want))); got != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

func TestHTTPConnectRefusesOversizedHeaders(t *testing.T) {
	checkNoLeaks(t)
	backend := newEchoBackend(t)
	addr, _ := serve(t, &Server{Handler: &HTTPConnect{Dial: backend.Dial, Resolve: StaticResolver(nil, "mls")}})
	app := dialApp(t, addr)
	big := "CONNECT mls:443 HTTP/1.1\r\nX-Filler: " + strings.Repeat("a", 2*maxHTTPHeader) + "\r\n\r\n"
	go app.Write([]byte(big)) // the proxy stops reading; do not block on a full socket
	status, err := bufio.NewReader(app).ReadString('\n')
	if err != nil || status != "HTTP/1.1 400 Bad Request\r\n" {
		t.Fatalf("status = %q (%v), want 400", status, err)
	}
	if len(backend.Dialed()) != 0 {
		t.Errorf("an oversized request dialled %q", backend.Dialed())
	}
}
