package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
)

type fixture struct {
	g       *lab.Gateway
	bridge  bridge.Line
	reg     *transports.Registry
	backend string
	addr    string // where carriers dial: the bridge line's address unless set
}

// newFixture runs a gateway with one tcp listener in front of an echo service.
func newFixture(t testing.TB, tweak func(*gateway.Config)) *fixture {
	t.Helper()
	g := lab.StartGateway(t, func(c *gateway.Config) {
		// Short, so rejected carriers close within the test.
		c.HandshakeTimeout = 500 * time.Millisecond
		if tweak != nil {
			tweak(c)
		}
	})
	reg, _ := transports.NewRegistry(tcp.New())
	return &fixture{g: g, bridge: g.Bridge(), reg: reg, backend: g.Backend}
}

func (f *fixture) client(t *testing.T, b bridge.Line) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Bridges: []bridge.Line{b}, Transports: f.reg, HandshakeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (f *fixture) metrics(t *testing.T) string {
	rec := httptest.NewRecorder()
	f.g.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func dial(t *testing.T, c *client.Client, service string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Dial(ctx, service)
}

func TestStreamsReachOnlyNamedServices(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client(t, f.bridge)

	conn, err := dial(t, c, "echo")
	if err != nil {
		t.Fatalf("Dial(echo): %v", err)
	}
	msg := []byte("hello through the gateway")
	conn.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo: got %q, %v", got, err)
	}
	conn.Close()

	for _, service := range []string{"nope", f.backend, "127.0.0.1:22", "example.com:443"} {
		if _, err := dial(t, c, service); !errors.Is(err, session.ErrUnknownService) {
			t.Errorf("Dial(%q) = %v, want ErrUnknownService (the gateway is not an open proxy)", service, err)
		}
	}
	m := f.metrics(t)
	for _, want := range []string{
		`umbrella_gateway_streams_total{result="ok",service="echo"} 1`,
		`umbrella_gateway_streams_total{result="unknown",service="unknown"} 4`,
		`umbrella_gateway_sessions{transport="tcp"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestUnavailableBackend(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	f := newFixture(t, func(c *gateway.Config) { c.Services["down"] = deadAddr })
	if _, err := dial(t, f.client(t, f.bridge), "down"); !errors.Is(err, session.ErrServiceUnavailable) {
		t.Fatalf("Dial(down) = %v, want ErrServiceUnavailable", err)
	}
}

func TestStreamLimit(t *testing.T) {
	f := newFixture(t, func(c *gateway.Config) { c.MaxStreams = 2 })
	c := f.client(t, f.bridge)
	for i := range 2 {
		conn, err := dial(t, c, "echo")
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		defer conn.Close()
	}
	if _, err := dial(t, c, "echo"); !errors.Is(err, session.ErrStreamLimit) {
		t.Fatalf("third stream: %v, want ErrStreamLimit", err)
	}
}

func TestSessionLimit(t *testing.T) {
	f := newFixture(t, func(c *gateway.Config) { c.MaxSessions = 1 })
	if _, err := dial(t, f.client(t, f.bridge), "echo"); err != nil {
		t.Fatalf("first session: %v", err)
	}
	_, err := dial(t, f.client(t, f.bridge), "echo")
	if !errors.Is(err, client.ErrAllBridgesFailed) || !errors.Is(err, session.ErrNoAnswer) {
		t.Fatalf("second session: %v, want no answer", err)
	}
	if m := f.metrics(t); !strings.Contains(m, `umbrella_gateway_handshakes_total{reason="sessions",result="refused",transport="tcp"} 1`) {
		t.Errorf("refusal not counted:\n%s", grep(m, "handshakes"))
	}
}

func TestBadCredentialsGetNoAnswer(t *testing.T) {
	f := newFixture(t, nil)
	wrongSecret := f.bridge
	rand.Read(wrongSecret.Secret[:])
	wrongKey := f.bridge
	wrongKey.Key, _, _ = ed25519.GenerateKey(rand.Reader)
	otherEndpoint := f.bridge
	// The same listener under another name: a hello made for "localhost:port" is
	// not valid at "127.0.0.1:port".
	_, port, _ := net.SplitHostPort(f.bridge.Addr)
	otherEndpoint.Addr = net.JoinHostPort("localhost", port)

	for _, tc := range []struct {
		name   string
		bridge bridge.Line
		want   error
	}{
		{"wrong secret", wrongSecret, session.ErrNoAnswer},
		{"wrong gateway key", wrongKey, session.ErrAuth},
		{"hello bound to another endpoint", otherEndpoint, session.ErrNoAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(t, f.client(t, tc.bridge), "echo")
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if m := f.metrics(t); !strings.Contains(m, `result="failed"`) {
		t.Errorf("failed handshakes not counted:\n%s", grep(m, "handshakes"))
	}
}

func TestDrainClosesSessionsAfterTimeout(t *testing.T) {
	f := newFixture(t, nil)
	conn, err := dial(t, f.client(t, f.bridge), "echo")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.g.Drain():
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after the drain timeout")
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("stream still open after the gateway drained")
	}
	if _, err := net.DialTimeout("tcp", f.bridge.Addr, time.Second); err == nil {
		t.Fatal("listener still accepting after drain")
	}
}

func TestWildcardListenNeedsPublicAddress(t *testing.T) {
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	_, err := gateway.Listen(context.Background(), gateway.Config{
		Identity:  id,
		Secrets:   []session.Secret{{1}},
		Listeners: []gateway.ListenerConfig{{Transport: tcp.New(), Listen: "0.0.0.0:0"}},
		Services:  map[string]string{"echo": "127.0.0.1:1"},
	})
	if err == nil || !strings.Contains(err.Error(), "public") {
		t.Fatalf("got %v, want an error naming public", err)
	}
}

func grep(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestReloadRevokesSecret(t *testing.T) {
	f := newFixture(t, nil)
	old := f.bridge
	if _, err := dial(t, f.client(t, old), "echo"); err != nil {
		t.Fatalf("before reload: %v", err)
	}
	var fresh session.Secret
	rand.Read(fresh[:])
	if err := f.g.Reload(gateway.Policy{Secrets: []session.Secret{fresh}}); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, f.client(t, old), "echo"); !errors.Is(err, session.ErrNoAnswer) {
		t.Fatalf("revoked secret: %v, want no answer", err)
	}
	updated := f.g.Bridges()[0]
	if updated.Secret != fresh {
		t.Fatal("bridge lines still carry the revoked secret")
	}
	if _, err := dial(t, f.client(t, updated), "echo"); err != nil {
		t.Fatalf("new secret: %v", err)
	}
}

// A backend that never closes its side must not keep a drained gateway alive once the
// app has half-closed its stream.
func TestDrainClosesBackendConnections(t *testing.T) {
	quiet, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	held := make(chan net.Conn, 1)
	go func() {
		if c, err := quiet.Accept(); err == nil {
			held <- c // read nothing, write nothing, close nothing
		}
	}()
	f := newFixture(t, func(c *gateway.Config) { c.Services["quiet"] = quiet.Addr().String() })
	conn, err := dial(t, f.client(t, f.bridge), "quiet")
	if err != nil {
		t.Fatal(err)
	}
	conn.(interface{ CloseWrite() error }).CloseWrite()
	backendSide := <-held
	defer backendSide.Close()
	select {
	case <-f.g.Drain():
	case <-time.After(30 * time.Second):
		t.Fatal("Serve still waiting on a backend connection after the drain timeout")
	}
	backendSide.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := backendSide.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("backend connection not closed by the drain: %v", err)
	}
}

// Drain must not wait out the randomised silence of rejected peers: they are closed
// when it starts. Timeouts here are long enough that nothing else could close them.
func TestDrainClosesRejectedPeers(t *testing.T) {
	f := newFixture(t, func(c *gateway.Config) {
		c.HandshakeTimeout = 10 * time.Minute
		c.DrainTimeout = 10 * time.Minute
	})
	probe, err := net.Dial("tcp", f.bridge.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	garbage := make([]byte, 600) // more than a hello's marked prefix: rejected at once
	rand.Read(garbage)
	if _, err := probe.Write(garbage); err != nil {
		t.Fatal(err)
	}
	waitRejected(t, f)
	select {
	case <-f.g.Drain():
	case <-time.After(30 * time.Second):
		t.Fatal("Serve still draining with only a rejected peer left")
	}
	probe.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := probe.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("rejected peer's conn after drain: read gave %v, want it closed", err)
	}
}

// waitRejected waits until the gateway has counted a failed handshake.
func waitRejected(t *testing.T, f *fixture) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(f.metrics(t), `result="failed"`) {
			return
		}
	}
	t.Fatal("the gateway never rejected the probe")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A dashboard's rates over a fresh gateway show 0, not "no data": every series that
// can be known ahead is there, at 0, before the first client.
func TestMetricsExistAtZeroFromTheStart(t *testing.T) {
	f := newFixture(t, nil)
	m := f.metrics(t)
	for _, want := range []string{
		`umbrella_gateway_sessions{transport="tcp"} 0`,
		`umbrella_gateway_handshakes_total{reason="",result="ok",transport="tcp"} 0`,
		`umbrella_gateway_bytes_total{direction="up",transport="tcp"} 0`,
		`umbrella_gateway_bytes_total{direction="down",transport="tcp"} 0`,
		`umbrella_gateway_streams_total{result="ok",service="echo"} 0`,
		`umbrella_gateway_resumes_total{result="ok"} 0`,
		`umbrella_gateway_resumes_total{result="rejected"} 0`,
		`umbrella_gateway_admission_drops_total{reason="evicted",transport="tcp"} 0`,
		`umbrella_gateway_admission_drops_total{reason="held_full",transport="tcp"} 0`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("a fresh gateway's metrics lack %s", want)
		}
	}
}
