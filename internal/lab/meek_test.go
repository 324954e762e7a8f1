package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/internal/relay"
	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/meek"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// meekLab is a whole deployment on loopback: an echo service, a gateway with a meek
// listener (tls=false) on GatewayHost, a recorder between nginx and the gateway that
// keeps what nginx forwarded, and nginx on 127.0.0.3 as the CDN edge.
type meekLab struct {
	front  *webtest.MeekCDN
	bridge bridge.Line // the meek bridge line the gateway prints
	rec    *recorder
}

func startMeekLab(t *testing.T) *meekLab {
	t.Helper()
	f := webtest.NewMeekCDN(t)
	site, err := decoy.NewHandler("", "http://"+f.Site)
	if err != nil {
		t.Fatal(err)
	}
	listen := nginxtest.FreeAddr(t, GatewayHost)
	g := StartGateway(t, WithListener(meek.New(nil), listen, f.Addr, webtest.MeekListenerArgs()), func(c *gateway.Config) {
		c.Decoy = site
		// meek's polls through nginx make handshakes slow on a loaded machine.
		c.HandshakeTimeout = limits.DefaultHandshakeTimeout
	})
	l := &meekLab{front: f, bridge: g.Bridge()}
	l.rec = startRecorder(t, listen)
	f.Start(t, l.rec.addr)
	return l
}

// client returns a client of the lab's bridges, closed when the test ends.
func (l *meekLab) client(t *testing.T, bridges ...bridge.Line) *client.Client {
	t.Helper()
	reg, err := transports.NewRegistry(tcp.New(), meek.New(webtest.Roots(t)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Bridges: bridges, Transports: reg, HandshakeTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recorder relays nginx's connections to the gateway and keeps a copy of what nginx
// sent: the requests as the gateway received them, for replaying.
type recorder struct {
	addr string
	mu   sync.Mutex
	sent []*bytes.Buffer // one per connection
}

func startRecorder(t testing.TB, to string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", GatewayHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			rc := &recordingConn{Conn: c, r: r, buf: new(bytes.Buffer)}
			r.mu.Lock()
			r.sent = append(r.sent, rc.buf)
			r.mu.Unlock()
			wg.Go(func() { relay.Splice(rc, up, nil, nil) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return r
}

// requests returns a copy of everything nginx sent so far, per connection.
func (r *recorder) requests() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, b := range r.sent {
		out = append(out, bytes.Clone(b.Bytes()))
	}
	return out
}

type recordingConn struct {
	net.Conn
	r   *recorder
	buf *bytes.Buffer // guarded by r.mu
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.mu.Lock()
	c.buf.Write(p[:n])
	c.r.mu.Unlock()
	return n, err
}

// TestMeekEndToEndThroughFrontedNginx moves 1 MiB each way between a client and the echo
// service behind the gateway, with the client's first bridge line pointing at the
// gateway's own address, which is unreachable (as under an IP block): the session can
// only come through the nginx "CDN", by meek.
func TestMeekEndToEndThroughFrontedNginx(t *testing.T) {
	l := startMeekLab(t)
	if l.bridge.Addr != l.front.Addr || l.bridge.Args["servername"] != webtest.MeekFront || l.bridge.Args["url"] != webtest.MeekURL {
		t.Fatalf("gateway prints the bridge line %s; want the front's address %s, servername=%s url=%s",
			l.bridge.Redacted(), l.front.Addr, webtest.MeekFront, webtest.MeekURL)
	}
	blocked := l.bridge
	blocked.Transport, blocked.Addr, blocked.Args = "tcp", unreachable(t), nil
	c := l.client(t, blocked, l.bridge)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, "echo")
	if err != nil {
		t.Fatalf("Dial(echo) through nginx: %v", err)
	}
	defer conn.Close()
	if got := c.Active(); got != "meek" {
		t.Fatalf("the session is carried by %q; want meek, the only bridge that reaches the gateway", got)
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))

	const size = 1 << 20
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{7})
	rng.Read(data)
	sent := async(func() error {
		_, err := conn.Write(data)
		return err
	})
	h := sha256.New()
	if n, err := io.CopyN(h, conn, size); err != nil {
		t.Fatalf("read back %d of %d bytes through meek: %v", n, size, err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("write %d bytes through meek: %v", size, err)
	}
	if got, want := h.Sum(nil), sha256.Sum256(data); string(got) != string(want[:]) {
		t.Fatalf("the %d bytes echoed through client → nginx → gateway → echo differ from those sent", size)
	}
	t.Logf("1 MiB each way carried by %s via nginx at %s (SNI %s, Host %s)", c.Active(), l.front.Addr, webtest.MeekFront, webtest.MeekService)
}

// unreachable returns a loopback address nothing listens on.
func unreachable(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", GatewayHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}
