package utls

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// rejectAll accepts conns on ln, reads what the peer sends first as the gateway would,
// and rejects it with those bytes as the prefix.
func rejectAll(t *testing.T, ln transports.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 64)
				n, _ := c.Read(buf)
				c.SetReadDeadline(time.Time{})
				c.(transports.Rejecter).Reject(buf[:n])
			}()
		}
	}()
}

func httpsClient(forceH2 bool) *http.Client {
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			ForceAttemptHTTP2: forceH2,
		},
	}
}

// proxyHeaders are response headers that betray a proxy or an application server.
var proxyHeaders = []string{"Via", "X-Forwarded-For", "X-Forwarded-Proto", "X-Cache", "X-Powered-By", "Forwarded", "Proxy-Connection"}

func TestRejectedPeersSeeTheDecoyWebsite(t *testing.T) {
	for _, tt := range []struct {
		name    string
		forceH2 bool
	}{{"HTTP/1.1 client", false}, {"client offering h2 as browsers do", true}} {
		t.Run(tt.name, func(t *testing.T) {
			ln := listenLoopback(t, nil)
			rejectAll(t, ln)
			client := httpsClient(tt.forceH2)
			defer client.CloseIdleConnections()
			resp, err := client.Get("https://" + ln.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), "Joinery") {
				t.Fatalf("got %d %q, want 200 and the built-in site", resp.StatusCode, body)
			}
			wantALPN := "" // a client that offers no ALPN gets none
			if tt.forceH2 {
				wantALPN = "http/1.1"
			}
			if resp.Proto != "HTTP/1.1" || resp.TLS.NegotiatedProtocol != wantALPN || resp.TLS.Version != tls.VersionTLS13 {
				t.Errorf("got %s over TLS %x with ALPN %q, want HTTP/1.1 over TLS 1.3 with ALPN %q",
					resp.Proto, resp.TLS.Version, resp.TLS.NegotiatedProtocol, wantALPN)
			}
			if resp.Header.Get("Server") != "nginx" {
				t.Errorf("Server %q, want nginx", resp.Header.Get("Server"))
			}
			for _, h := range proxyHeaders {
				if v := resp.Header.Get(h); v != "" {
					t.Errorf("response carries %s: %s", h, v)
				}
			}
			if got := resp.TLS.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != testServerName {
				t.Errorf("certificate names %q, want [%s]", got, testServerName)
			}
			// A second request on the same connection: keep-alive, as a web server.
			resp, err = client.Get("https://" + ln.Addr().String() + "/nope")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("missing page: status %d, want 404", resp.StatusCode)
			}
		})
	}
}

func TestRejectUsesTheOperatorsDecoy(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "operator site") })
	ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{
		Addr: "127.0.0.1:0", Args: transports.Args{tlskit.ArgServerName: testServerName}, Decoy: h,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rejectAll(t, ln)
	client := httpsClient(false)
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "operator site" {
		t.Fatalf("body %q, want the operator's decoy", body)
	}
}

func TestRejectOfPlainHTTPAnswersAsNginx(t *testing.T) {
	ln := listenLoopback(t, nil)
	rejected := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.(transports.Rejecter).Reject(nil)
		close(rejected)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
	got, _ := io.ReadAll(c)
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 400 Bad Request\r\n")) || !bytes.Contains(got, []byte("The plain HTTP request was sent to HTTPS port")) {
		t.Fatalf("plain HTTP on the TLS port got %q, want nginx's 400 page for it", got)
	}
	c.Close()
	select {
	case <-rejected:
	case <-time.After(20 * time.Second):
		t.Fatal("Reject did not return for a peer that does not speak TLS")
	}
}

func TestSlowPeerDoesNotHoldUpAccept(t *testing.T) {
	ln := listenLoopback(t, nil)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c, err := dialerFor(t, ln, nil).Dial(testContext(t))
	if err != nil {
		t.Fatalf("Dial while another peer stalls its handshake: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q, %v", buf, err)
	}
}

func TestListenRejectsBadArguments(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    transports.Args
		wantKey string
	}{
		{"unknown argument", transports.Args{tlskit.ArgServerName: testServerName, "sni": "x"}, "sni"},
		{"neither server name nor certificate", transports.Args{}, tlskit.ArgServerName},
		{"certificate without key", transports.Args{tlskit.ArgCert: filepath.Join(dir, "c.pem")}, tlskit.ArgKey},
		{"key without certificate", transports.Args{tlskit.ArgKey: filepath.Join(dir, "k.pem")}, tlskit.ArgCert},
		{"unknown fingerprint", transports.Args{tlskit.ArgServerName: testServerName, tlskit.ArgFP: "netscape"}, tlskit.ArgFP},
		{"IP as server name", transports.Args{tlskit.ArgServerName: "192.0.2.1"}, tlskit.ArgServerName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: tt.args})
			if err == nil {
				ln.Close()
				t.Fatalf("Listen(%v) succeeded", tt.args)
			}
			var ae *transports.ArgError
			if !errors.As(err, &ae) || ae.Key != tt.wantKey {
				t.Fatalf("Listen(%v) = %v, want an ArgError naming %s", tt.args, err, tt.wantKey)
			}
		})
	}
}

func TestHandshakeFailuresAreLoggedWithoutAddresses(t *testing.T) {
	var logs bytes.Buffer
	ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{
		Addr: "127.0.0.1:0", Args: transports.Args{tlskit.ArgServerName: testServerName},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Half a ClientHello, then a reset: the server's read fails with a net.OpError,
	// whose text names both addresses.
	io.WriteString(c, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	sc := <-accepted
	sc.Read(make([]byte, 1)) // waits for the failed handshake
	sc.Close()
	client := c.LocalAddr().(*net.TCPAddr)
	if !strings.Contains(logs.String(), "TLS handshake failed") {
		t.Fatalf("no handshake failure logged: %q", logs.String())
	}
	if strings.Contains(logs.String(), client.String()) || strings.Contains(logs.String(), ":"+strconv.Itoa(client.Port)) {
		t.Fatalf("log names the client's address %s: %q", client, logs.String())
	}
}

// The gateway's handshake deadline ends its own wait, not the TLS handshake: nginx
// would give a peer 60 s to finish it, and a listener that hung up earlier would show.
func TestDeadlineBeforeTheHandshakeEndsTheWaitNotTheHandshake(t *testing.T) {
	ln := listenLoopback(t, nil)
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	sc := <-accepted
	defer sc.Close()
	sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := sc.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read before any handshake = %v, want a deadline error", err)
	}
	sc.SetReadDeadline(time.Time{})
	// The peer now shakes hands and writes: the conn is still good.
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte("late")); err != nil {
		t.Fatalf("handshake after the server's deadline passed: %v", err)
	}
	sc.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "late" {
		t.Fatalf("Read after the handshake = %q, %v; want \"late\"", buf, err)
	}
}

// A whole HTTP request after the TLS handshake is answered as nginx answers it, at
// once, even when it is shorter than what the gateway reads before it can judge a
// session hello: the gateway's wait ends there instead of at its timeout.
func TestWholeRequestShorterThanAHelloIsAnsweredWithoutWaiting(t *testing.T) {
	ln := listenLoopback(t, nil)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		// As the gateway: no deadline of its own here, so only the request can end
		// the read of a 50-byte hello prefix.
		buf := make([]byte, 50)
		n, _ := io.ReadFull(c, buf)
		c.(transports.Rejecter).Reject(buf[:n])
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second)) // only keeps a broken server from hanging the test
	req := "GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
	if len(req) >= 50 {
		t.Fatalf("the request has %d bytes; the test needs one shorter than the gateway's first read", len(req))
	}
	io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a whole request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Server") != "nginx" {
		t.Fatalf("got %d from %q, want the decoy site's page", resp.StatusCode, resp.Header.Get("Server"))
	}
}

func TestOperatorCertificateNamesTheBridge(t *testing.T) {
	ca, err := labca.New("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, err := ca.WriteKeyPair(t.TempDir(), "shop.example.org")
	if err != nil {
		t.Fatal(err)
	}
	ln := listenLoopback(t, transports.Args{tlskit.ArgCert: certPath, tlskit.ArgKey: keyPath, tlskit.ArgFP: tlskit.FPFirefox})
	want := transports.Args{tlskit.ArgServerName: "shop.example.org", tlskit.ArgFP: tlskit.FPFirefox}
	if got := ln.BridgeArgs(); !maps.Equal(got, want) {
		t.Errorf("BridgeArgs %v, want %v: the certificate's name and the fingerprint, no pin", got, want)
	}
}
