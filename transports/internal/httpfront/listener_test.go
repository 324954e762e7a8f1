package httpfront

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/admission"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

const testPath = "/abcdefghijklmnop"

// hangGuard only keeps a broken listener from hanging a test.
const hangGuard = 30 * time.Second

// listenPlain runs a plain-HTTP front whose transport answers "OK\n" to a GET of
// testPath with an X-Ours header, and whose decoy answers "decoy".
func listenPlain(t *testing.T, tlsConfig *tls.Config) *Listener {
	t.Helper()
	return listenFront(t, tlsConfig, nil)
}

// listenFront is listenPlain with the gateway's admission pool.
func listenFront(t *testing.T, tlsConfig *tls.Config, pool *admission.Pool) *Listener {
	t.Helper()
	ln, err := Listen(t.Context(), "127.0.0.1:0", Config{
		Admission: pool,
		Options:   Options{TLS: tlsConfig, ServerName: "a.example", Path: testPath},
		Name:      "test",
		Decoy: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "decoy")
		}),
		Match: func(r *http.Request) bool { return r.Header.Get("X-Ours") == "yes" },
		Upgrade: func(c *Conn, _ *http.Request) (net.Conn, error) {
			_, err := io.WriteString(c, "OK\n")
			return c, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(hangGuard))
	t.Cleanup(func() { c.Close() })
	return c
}

func ours(extra string) string {
	return "GET " + testPath + " HTTP/1.1\r\nHost: a.example\r\nX-Ours: yes\r\n" + extra + "\r\n"
}

func acceptWithin(t *testing.T, ln *Listener) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		got <- result{c, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("Accept: %v", r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(hangGuard):
		t.Fatalf("Accept returned nothing within %v", hangGuard)
		return nil
	}
}

func TestSilentPeerDoesNotHoldUpAccept(t *testing.T) {
	ln := listenPlain(t, nil)
	dial(t, ln.Addr().String()) // connects and says nothing
	c := dial(t, ln.Addr().String())
	io.WriteString(c, ours("")+"first data")
	s := acceptWithin(t, ln)
	got := make([]byte, len("first data"))
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "first data" {
		t.Fatalf("accepted conn read %q, %v; want the data sent behind the request", got, err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "OK\n" {
		t.Fatalf("client read %q, %v; want the transport's answer", line, err)
	}
}

func TestCloseEndsPeersNotYetAccepted(t *testing.T) {
	ln := listenPlain(t, nil)
	silent := dial(t, ln.Addr().String())
	// Wait until the listener has taken the peer in, by a request it answers.
	probe := dial(t, ln.Addr().String())
	io.WriteString(probe, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
	if _, err := bufio.NewReader(probe).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := silent.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("a peer waiting in the listener read %v after Close, want the connection closed", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

func TestRequestsThatAreNotOursGetTheDecoy(t *testing.T) {
	ln := listenPlain(t, nil)
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"GET " + testPath + " HTTP/1.1\r\nHost: a.example\r\n\r\n",                 // Match refuses
		"POST " + testPath + " HTTP/1.1\r\nHost: a.example\r\nX-Ours: yes\r\n\r\n", // not a GET
		"GET " + testPath + "x HTTP/1.1\r\nHost: a.example\r\nX-Ours: yes\r\n\r\n", // a longer path
		"GET " + testPath[:5] + " HTTP/1.1\r\nHost: a.example\r\nX-Ours: yes\r\n\r\n",
	} {
		c := dial(t, ln.Addr().String())
		io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "decoy" {
			t.Fatalf("%q got %q, want the decoy", req, body)
		}
	}
}

func TestClientAddressFromTheProxyOnlyInPlainMode(t *testing.T) {
	tlsConfig, _, err := tlskit.ServerConfig(transports.Args{"servername": "a.example"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		tls  *tls.Config
		want string
	}{
		{"plain, behind a proxy", nil, "192.0.2.9"},
		{"TLS, no proxy to trust", tlsConfig, "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln := listenPlain(t, tt.tls)
			c := dial(t, ln.Addr().String())
			if tt.tls != nil {
				c = tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "a.example"})
			}
			io.WriteString(c, ours("X-Forwarded-For: 198.51.100.1, 192.0.2.9\r\n"))
			s := acceptWithin(t, ln)
			if ip := s.RemoteAddr().(*net.TCPAddr).IP.String(); ip != tt.want {
				t.Fatalf("RemoteAddr %v, want %s", s.RemoteAddr(), tt.want)
			}
		})
	}
}

func TestExchangeKeepsWhatFollowsTheHead(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		bufio.NewReader(server).ReadString('\n')
		io.WriteString(server, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nearly data")
	}()
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	defer cancel()
	head, rest, err := Exchange(ctx, client, []byte("GET / HTTP/1.1\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(head), "HTTP/1.1 101") || !strings.HasSuffix(string(head), "\r\n\r\n") {
		t.Fatalf("head %q", head)
	}
	c := NewConn(client, rest, nil)
	got, _ := io.ReadAll(c)
	if string(got) != "early data" {
		t.Fatalf("read %q after the head, want %q", got, "early data")
	}
}

func TestExchangeEndsWithItsContext(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go io.Copy(io.Discard, server) // reads the request, never answers
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, _, err := Exchange(ctx, client, []byte("GET / HTTP/1.1\r\n\r\n")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Exchange = %v, want context.Canceled", err)
	}
}

func TestParseOptionsPlainMode(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		args    transports.Args
		wantErr bool
	}{
		{"loopback", "127.0.0.1:8080", transports.Args{ArgTLS: "false", argServerName: "a.example", ArgPath: testPath}, false},
		{"localhost", "localhost:8080", transports.Args{ArgTLS: "false", argServerName: "a.example", ArgPath: testPath}, false},
		{"IPv6 loopback", "[::1]:8080", transports.Args{ArgTLS: "false", argServerName: "a.example", ArgPath: testPath}, false},
		{"private network, allowed", "10.0.0.5:8080", transports.Args{ArgTLS: "false", ArgAllowPublicPlain: "true", argServerName: "a.example", ArgPath: testPath}, false},
		{"private network, not allowed", "10.0.0.5:8080", transports.Args{ArgTLS: "false", argServerName: "a.example", ArgPath: testPath}, true},
		{"IP server name", "127.0.0.1:8080", transports.Args{ArgTLS: "false", argServerName: "127.0.0.1", ArgPath: testPath}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseOptions(tt.addr, tt.args, "", nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseOptions(%s, %v) = %v, want error %v", tt.addr, tt.args, err, tt.wantErr)
			}
			if err == nil && (o.TLS != nil || o.ServerName != "a.example" || o.Path != testPath) {
				t.Fatalf("ParseOptions(%s, %v) = %+v", tt.addr, tt.args, o)
			}
		})
	}
}
