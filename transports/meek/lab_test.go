package meek_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/internal/relay"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/meek"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// lab is a whole deployment on loopback: an echo service, a gateway with a meek
// listener (tls=false) on 127.0.0.2, a recorder between nginx and the gateway that
// keeps what nginx forwarded, and nginx on 127.0.0.3 as the CDN edge.
type lab struct {
	front   *front
	gateway *gateway.Gateway
	bridge  bridge.Line // the meek bridge line the gateway prints
	rec     *recorder
}

func startLab(t *testing.T) *lab {
	t.Helper()
	f := newFront(t)
	site, err := decoy.NewHandler("", "http://"+f.site)
	if err != nil {
		t.Fatal(err)
	}
	listen := nginxtest.FreeAddr(t, gatewayHost)
	g := startGateway(t, gateway.ListenerConfig{
		Transport: meek.New(),
		Listen:    listen,
		Public:    f.addr,
		Args:      plainListenerArgs(),
	}, site)
	l := &lab{front: f, gateway: g, bridge: g.Bridges()[0]}
	l.rec = startRecorder(t, listen)
	f.start(t, l.rec.addr)
	return l
}

// startGateway runs a gateway with one listener in front of an echo service.
func startGateway(t *testing.T, lc gateway.ListenerConfig, site http.Handler) *gateway.Gateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	echoLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoDone := make(chan struct{})
	go func() { backend.Echo{}.Serve(ctx, echoLn); close(echoDone) }()
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	g, err := gateway.Listen(ctx, gateway.Config{
		Identity:     id,
		Secrets:      []session.Secret{config.GenerateSecret()},
		Listeners:    []gateway.ListenerConfig{lc},
		Services:     map[string]string{"echo": echoLn.Addr().String()},
		Decoy:        site,
		DrainTimeout: 2 * time.Second,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("gateway Serve: %v", err)
		}
		<-echoDone
	})
	return g
}

// client returns a client of the lab's bridges, closed when the test ends.
func (l *lab) client(t *testing.T, bridges ...bridge.Line) *client.Client {
	t.Helper()
	reg, err := transports.NewRegistry(tcp.New(), meek.New())
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
	ln, err := net.Listen("tcp", gatewayHost+":0")
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
