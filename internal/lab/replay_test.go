package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/replay"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// An edge is what a gateway keeps across restarts: its state directory, identity and
// bridge secret. edge.option runs a gateway as that edge.
type edge struct {
	stateDir string
	identity ed25519.PrivateKey
	secret   session.Secret
}

func newEdge(t *testing.T) edge {
	_, id, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return edge{stateDir: t.TempDir(), identity: id, secret: config.GenerateSecret()}
}

func (e edge) option(c *gateway.Config) {
	c.StateDir, c.Identity, c.Secrets = e.stateDir, e.identity, []session.Secret{e.secret}
}

// recordingDialer dials with d and keeps a copy of the first write on each carrier:
// the client hello, which session.Client sends in one write.
type recordingDialer struct {
	d     transports.Dialer
	mu    sync.Mutex
	first [][]byte
}

func (r *recordingDialer) Dial(ctx context.Context) (net.Conn, error) {
	c, err := r.d.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return &firstWrite{Conn: c, keep: func(p []byte) {
		r.mu.Lock()
		r.first = append(r.first, bytes.Clone(p))
		r.mu.Unlock()
	}}, nil
}

func (r *recordingDialer) hello(t *testing.T) []byte {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.first) == 0 {
		t.Fatal("no carrier was dialled")
	}
	return r.first[0]
}

type firstWrite struct {
	net.Conn
	once sync.Once
	keep func([]byte)
}

func (c *firstWrite) Write(p []byte) (int, error) {
	c.once.Do(func() { c.keep(p) })
	return c.Conn.Write(p)
}

// reaction sends data to addr over TCP and returns what comes back before the
// gateway closes the connection, what a prober learns, and how the connection ended
// (nil for a close).
func reaction(addr string, data []byte) (got []byte, closed error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write(data); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(hangGuard))
	return io.ReadAll(c)
}

// handshakes reads the gateway's count of handshakes on transport that ended with
// result and reason, from its metrics.
func handshakes(t *testing.T, g *Gateway, transport, result, reason string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	g.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	want := fmt.Sprintf(`umbrella_gateway_handshakes_total{reason=%q,result=%q,transport=%q} `, reason, result, transport)
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// TestHelloReplayedToARestartedGatewayGetsWhatGarbageGets runs a session through a
// gateway, stops it, starts it again on the same state directory, and replays the
// session's client hello there, within the two minutes the hello is fresh. The
// restarted gateway answers it as it answers random bytes: nothing, then a close. A
// gateway with the same identity, secret and address but a state directory of its own
// (another process, no journal) does answer it: the replay is fresh, and only the
// journal stops it.
func TestHelloReplayedToARestartedGatewayGetsWhatGarbageGets(t *testing.T) {
	e := newEdge(t)
	// A port named before the gateway binds it, outside the ephemeral range, so that
	// the restarts bind it again (package freeport says why).
	listen, err := freeport.TCP(ClientHost)
	if err != nil {
		t.Fatal(err)
	}
	first := StartGateway(t, e.option, WithListener(tcp.New(), listen, "", nil))
	b := first.Bridge()
	d, err := tcp.New().NewDialer(listen, b.Args)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingDialer{d: d}
	echoThroughSession(t, rec, b)
	hello := rec.hello(t)
	<-first.Drain()

	// The restart listens on the same port, with a second listener beside it.
	restarted := StartGateway(t, e.option, WithListener(tcp.New(), listen, "", nil),
		WithListener(tcp.New(), "127.0.0.1:0", "", nil))
	addr := restarted.Bridges()[0].Addr
	garbage := make([]byte, len(hello))
	rand.Read(garbage)
	probes := []struct {
		name, addr string
		data       []byte
	}{
		{"random bytes", addr, garbage},
		{"the replayed hello", addr, hello},
		// At the other listener the hello is bound to another endpoint: rejected
		// before the replay cache, as at any other edge.
		{"the hello replayed to another listener", restarted.Bridges()[1].Addr, hello},
	}
	// A rejected peer waits out a randomised silence: the probes wait side by side.
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Go(func() {
			if got, err := reaction(p.addr, p.data); len(got) != 0 || err != nil {
				t.Errorf("%s got %d bytes, then %v; want nothing, then a close", p.name, len(got), err)
			}
		})
	}
	wg.Wait()
	for reason, want := range map[string]int{"mark": 2, "replay": 1} {
		if n := handshakes(t, restarted, "tcp", "failed", reason); n != want {
			t.Errorf("the gateway counted %d handshakes failed as %q; want %d", n, reason, want)
		}
	}
	// The restarted gateway still serves a client.
	echoThroughSession(t, d, b)

	<-restarted.Drain()

	other := newEdge(t)
	other.identity, other.secret = e.identity, e.secret
	StartGateway(t, other.option, WithListener(tcp.New(), listen, "", nil))
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(hello)
	c.SetReadDeadline(time.Now().Add(hangGuard))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("a gateway without the journal did not answer the replayed hello (%v): the test proves nothing", err)
	}
}

// A second gateway process on a state directory another one holds would keep its own
// replay cache, answering hellos the first answered: it does not start.
func TestSecondGatewayOnAStateDirectoryDoesNotStart(t *testing.T) {
	e := newEdge(t)
	StartGateway(t, e.option)
	cfg := gateway.Config{Services: map[string]string{Service: "127.0.0.1:1"}}
	e.option(&cfg)
	WithListener(tcp.New(), "127.0.0.1:0", "", nil)(&cfg)
	g, err := gateway.Listen(context.Background(), cfg)
	if err == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		g.Serve(ctx)
		t.Fatal("a second gateway started on a state directory the first holds")
	}
	if !errors.Is(err, replay.ErrInUse) {
		t.Fatalf("second gateway: %v; want an error wrapping replay.ErrInUse", err)
	}
}
