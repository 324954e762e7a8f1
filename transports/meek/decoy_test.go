package meek_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports/meek"
)

// answer is what a prober sees of a response: everything but the Date.
type answer struct {
	status string
	header string // Server, Content-Type, Content-Length, Connection, Location
	body   string
}

func (a answer) String() string { return fmt.Sprintf("%s\n%s\n%.200q", a.status, a.header, a.body) }

// ask sends raw on a new connection to addr, through TLS with SNI serverName unless
// serverName is empty, and returns the first response.
func ask(t *testing.T, addr, serverName string, raw []byte) answer {
	t.Helper()
	c := dialProbe(t, addr, serverName)
	defer c.Close()
	if _, err := c.Write(raw); err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read the answer of %s to %.60q: %v", addr, raw, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer's body: %v", err)
	}
	var h strings.Builder
	for _, k := range []string{"Server", "Content-Type", "Content-Length", "Connection", "Location"} {
		fmt.Fprintf(&h, "%s: %s\n", k, resp.Header.Get(k))
	}
	return answer{status: resp.Status, header: h.String(), body: string(body)}
}

// askRaw sends raw and returns all that comes back until the server closes, with
// Date lines removed.
func askRaw(t *testing.T, addr, serverName string, raw []byte) string {
	t.Helper()
	c := dialProbe(t, addr, serverName)
	defer c.Close()
	c.Write(raw)
	// Done sending, as a prober is: a server's lingering close ends at once.
	c.(interface{ CloseWrite() error }).CloseWrite()
	got, _ := io.ReadAll(c) // a reset after the answer is how some servers close
	var kept []string
	for _, line := range strings.SplitAfter(string(got), "\n") {
		if !strings.HasPrefix(line, "Date: ") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "")
}

func dialProbe(t *testing.T, addr, serverName string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if serverName == "" {
		return c
	}
	tc := tls.Client(c, &tls.Config{ServerName: serverName, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		c.Close()
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	return tc
}

// browserGET is a request as Chromium sends it for a page.
func browserGET(path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + serviceName + "\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n")
}

// meekPOST is a request that knows meek's wire format: a prober that read the code.
func meekPOST(path, host string, body []byte) []byte {
	return fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nX-Session-Id: %s\r\nX-Session-Window: 131072\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n%s",
		path, host, randomID(), len(body), body)
}

func randomID() string {
	return fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
}

func randomBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// withPath returns the request raw with its path replaced.
func withPath(raw []byte, path string) []byte {
	method, rest, _ := bytes.Cut(raw, []byte(" "))
	_, rest, _ = bytes.Cut(rest, []byte(" "))
	return bytes.Join([][]byte{method, []byte(path), rest}, []byte(" "))
}

// TestProbersOfTheFrontSeeTheSite sends nginx, as the CDN edge, what a censor's prober
// would: every request to meek's path that is not a live session's gets the answer
// the site gives the same request for a page it does not have.
func TestProbersOfTheFrontSeeTheSite(t *testing.T) {
	l := startLab(t)
	if got := ask(t, l.front.addr, frontName, browserGET("/")); !strings.HasPrefix(got.status, "200") || got.body != sitePage {
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
		req  []byte
	}{
		{"browser GET of meek's path", browserGET(meekPath)},
		{"POST opening a meek session", meekPOST(meekPath, serviceName, nil)},
		{"meek POST of random bytes", meekPOST(meekPath, serviceName, randomBytes(1, 600))},
		{"replayed opening request of a real client", opening},
		{"replayed hello of a real client", hello},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ask(t, l.front.addr, frontName, tt.req)
			want := ask(t, l.front.addr, frontName, withPath(tt.req, "/nope/"))
			if got != want {
				t.Errorf("at %s got\n%v\nbut the site answers the same request at /nope/ with\n%v", meekPath, got, want)
			}
		})
	}
}

// firstFlight picks, from what nginx forwarded to the gateway on each connection, a
// session's opening request (no body) and the request that carried its hello.
func firstFlight(t *testing.T, conns [][]byte) (opening, hello []byte) {
	t.Helper()
	empty, withBody := map[string][]byte{}, map[string][]byte{}
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
			raw := sent[:n]
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
	return nil, nil
}

// withSessionID returns the request raw with its X-Session-Id replaced.
func withSessionID(raw []byte, id string) []byte {
	head, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	lines := bytes.Split(head, []byte("\r\n"))
	for i, line := range lines {
		if bytes.HasPrefix(bytes.ToLower(line), []byte("x-session-id:")) {
			lines[i] = []byte("X-Session-Id: " + id)
		}
	}
	return append(append(bytes.Join(lines, []byte("\r\n")), "\r\n\r\n"...), body...)
}

// TestGarbageGetsNginxsAnswer sends bytes that are not HTTP to the gateway's plain
// listener and to nginx: both answer alike.
func TestGarbageGetsNginxsAnswer(t *testing.T) {
	l := startLab(t)
	for _, tt := range []struct {
		name  string
		bytes []byte
	}{
		{"random bytes", randomBytes(2, 1000)},
		{"a request line that is not HTTP", []byte("HELLO there\r\n\r\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := askRaw(t, l.rec.addr, "", tt.bytes)
			want := askRaw(t, l.front.site, "", tt.bytes)
			if got != want {
				t.Errorf("the gateway answered\n%q\nnginx answers\n%q", got, want)
			}
		})
	}
}

var _ = meek.Name
