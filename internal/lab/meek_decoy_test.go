package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/meek"
)

// browserGET is a request as a browser sends it for a page.
func browserGET(path, host string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + webtest.BrowserHeaders + "\r\n"
}

// meekPOST is a request that knows meek's wire format: a prober that read the code.
func meekPOST(path, host string, body []byte) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nX-Session-Id: %s\r\nX-Session-Window: 131072\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n%s",
		path, host, randomID(), len(body), body)
}

func randomID() string {
	return fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
}

// withPath returns the request with its path replaced.
func withPath(req, path string) string {
	method, rest, _ := strings.Cut(req, " ")
	_, rest, _ = strings.Cut(rest, " ")
	return method + " " + path + " " + rest
}

// TestMeekProbersOfTheFrontSeeTheSite sends nginx, as the CDN edge, what a censor's prober
// would: every request to meek's path that is not a live session's gets the answer
// the site gives the same request for a page it does not have.
func TestMeekProbersOfTheFrontSeeTheSite(t *testing.T) {
	l := startMeekLab(t)
	if got := webtest.Probe(t, l.front.Addr, webtest.MeekFront, browserGET("/", webtest.MeekService)); got.Status != "HTTP/1.1 200 OK" || got.Body != webtest.MeekPage {
		t.Errorf("a browser's GET / got\n%v\nwant the site's page", got)
	}

	// A real client's session, so its first requests can be replayed.
	c := l.client(t, l.bridge)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, "echo")
	if err != nil {
		t.Fatalf("Dial(echo): %v", err)
	}
	conn.Close()
	c.Close()
	// The replays carry a new session id, as a prober's would: under the old one
	// they could reach the real session while it still closes.
	opening, hello := firstFlight(t, l.rec.requests())
	opening, hello = withSessionID(opening, randomID()), withSessionID(hello, randomID())

	tests := []struct {
		name string
		req  string
	}{
		{"browser GET of meek's path", browserGET(webtest.MeekPath, webtest.MeekService)},
		{"POST opening a meek session", meekPOST(webtest.MeekPath, webtest.MeekService, nil)},
		{"meek POST of random bytes", meekPOST(webtest.MeekPath, webtest.MeekService, webtest.RandomBytes(600, false))},
		{"replayed opening request of a real client", opening},
		{"replayed hello of a real client", hello},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := webtest.Probe(t, l.front.Addr, webtest.MeekFront, tt.req)
			want := webtest.Probe(t, l.front.Addr, webtest.MeekFront, withPath(tt.req, "/nope/"))
			if !webtest.Same(got, want) {
				t.Errorf("at %s got\n%v\nbut the site answers the same request at /nope/ with\n%v", webtest.MeekPath, got, want)
			}
		})
	}
}

// firstFlight picks, from what nginx forwarded to the gateway on each connection, a
// session's opening request (no body) and the request that carried its hello.
func firstFlight(t *testing.T, conns [][]byte) (opening, hello string) {
	t.Helper()
	empty, withBody := map[string]string{}, map[string]string{}
	for _, sent := range conns {
		for len(sent) > 0 {
			rd := bytes.NewReader(sent)
			br := bufio.NewReader(rd)
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			body, _ := io.ReadAll(req.Body)
			n := len(sent) - rd.Len() - br.Buffered()
			raw := string(sent[:n])
			sent = sent[n:]
			sid := req.Header.Get("X-Session-Id")
			if _, seen := empty[sid]; len(body) == 0 && !seen {
				empty[sid] = raw
			}
			if _, seen := withBody[sid]; len(body) > 0 && !seen {
				withBody[sid] = raw
			}
		}
	}
	for sid, o := range empty {
		if h, ok := withBody[sid]; ok && sid != "" {
			return o, h
		}
	}
	t.Fatalf("no session with an opening request and a hello among the %d connections nginx made", len(conns))
	return "", ""
}

// withSessionID returns the request with its X-Session-Id replaced.
func withSessionID(req, id string) string {
	head, body, _ := strings.Cut(req, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.ToLower(line), "x-session-id:") {
			lines[i] = "X-Session-Id: " + id
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}

// TestMeekGarbageGetsNginxsAnswer sends bytes that are not HTTP to the gateway's plain
// listener and to nginx: both answer alike.
func TestMeekGarbageGetsNginxsAnswer(t *testing.T) {
	l := startMeekLab(t)
	for _, tt := range []struct {
		name  string
		bytes []byte
	}{
		{"random bytes", webtest.RandomBytes(1000, false)},
		{"random bytes, high first bit", webtest.RandomBytes(1000, true)},
		{"a request line that is not HTTP", []byte("HELLO there\r\n\r\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := webtest.ProbeRaw(t, l.rec.addr, tt.bytes)
			want := webtest.ProbeRaw(t, l.front.Site, tt.bytes)
			if !webtest.Same(got, want) {
				t.Errorf("the gateway answered\n%v\nnginx answers\n%v", got, want)
			}
		})
	}
}

const (
	directName = "www.example.com"
	directPath = "/k3v9w"
)

// TestMeekProbersOfTheGatewayAsFrontSeeTheDecoy probes a gateway that terminates TLS itself
// (no nginx): whatever is not a live session gets what the decoy site gives the same
// request, served by the decoy package on a plain socket.
func TestMeekProbersOfTheGatewayAsFrontSeeTheDecoy(t *testing.T) {
	addr := nginxtest.FreeAddr(t, GatewayHost)
	StartGateway(t, WithListener(meek.New(nil), addr, "", transports.Args{"servername": directName, "path": directPath}))
	site := serveDecoy(t, decoy.BuiltIn())

	for _, tt := range []struct {
		name string
		req  string
	}{
		{"browser GET /", browserGET("/", directName)},
		{"browser GET of a page the site lacks", browserGET("/nope/", directName)},
		{"browser GET of meek's path", browserGET(directPath, directName)},
		{"POST opening a meek session", meekPOST(directPath, directName, nil)},
		{"meek POST of random bytes", meekPOST(directPath, directName, webtest.RandomBytes(600, false))},
		{"random bytes after the TLS handshake", string(webtest.RandomBytes(1000, false))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := webtest.Probe(t, addr, directName, tt.req)
			want := webtest.ProbeRaw(t, site, []byte(tt.req))
			if !webtest.Same(got, want) {
				t.Errorf("the gateway answered\n%v\nthe decoy site answers\n%v", got, want)
			}
		})
	}
	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		plain := serveDecoy(t, decoy.PlainHTTPOnTLSPort())
		req := []byte(browserGET("/", directName))
		if got, want := webtest.ProbeRaw(t, addr, req), webtest.ProbeRaw(t, plain, req); !webtest.Same(got, want) {
			t.Errorf("the gateway answered\n%v\nnginx's page for it is\n%v", got, want)
		}
	})
	t.Run("random bytes instead of TLS", func(t *testing.T) {
		if got := webtest.ProbeRaw(t, addr, webtest.RandomBytes(1000, true)); got.Status != "" {
			t.Errorf("the gateway answered bytes that are not TLS with HTTP:\n%v", got)
		}
	})
}

// serveDecoy serves h with decoy.Serve on a loopback socket: what the decoy site shows
// when nothing else is involved.
func serveDecoy(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			go decoy.Serve(c, nil, h)
		}
	}()
	return ln.Addr().String()
}

// TestMeekOwnFrontAnswersPlainHTTPAsNginx sends plain HTTP to the TLS port of meek's
// listener fronting itself and to the lab's nginx HTTPS site: both answer nginx's 400
// and close with it, and bytes sent after it meet the same closed socket. (meek's
// front once held the connection open through its 5 s linger, where nginx closes at
// once.)
func TestMeekOwnFrontAnswersPlainHTTPAsNginx(t *testing.T) {
	l := startLab(t, Options{Transports: []string{"meek"}})
	own := direct(l)
	if len(own) != 1 {
		t.Fatalf("the lab has %d direct meek lines, want 1", len(own))
	}
	for _, tt := range []struct {
		name string
		req  string
	}{
		{"browser GET", browserGET("/", ServerName)},
		{"GET without Host", "GET / HTTP/1.1\r\n\r\n"},
		{"meek POST", meekPOST("/", ServerName, []byte("hello"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := webtest.ProbeRaw(t, own[0].Listen, []byte(tt.req))
			want := webtest.ProbeRaw(t, l.Website, []byte(tt.req))
			if !webtest.Same(got, want) {
				t.Errorf("meek's own front answered\n%v\nnginx answers\n%v", got, want)
			}
			closed := webtest.ClosedAfterAnswer(t, own[0].Listen, []byte(tt.req))
			if want := webtest.ClosedAfterAnswer(t, l.Website, []byte(tt.req)); closed != want {
				t.Errorf("bytes sent after the answer: a reset from meek's front %v, from nginx %v", closed, want)
			}
		})
	}
}
