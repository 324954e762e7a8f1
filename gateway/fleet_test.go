package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/gateway/fleet"
	"github.com/umbrella-edge/edge/internal/freeport"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/internal/redistest"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// testFleet is a Redis and what the edges of one fleet share: identity and secret.
type testFleet struct {
	redis    *redistest.Server
	identity ed25519.PrivateKey
	secret   session.Secret
}

func newTestFleet(t *testing.T) *testFleet {
	t.Helper()
	srv, err := redistest.Run(context.Background(), t.TempDir(), redistest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	return &testFleet{redis: srv, identity: id, secret: config.GenerateSecret()}
}

// edge runs a gateway as edge name of the fleet, in front of the echo service and
// services (tweak adds them), and waits until it has joined.
func (tf *testFleet) edge(t *testing.T, name string, tweak func(*gateway.Config)) *fixture {
	t.Helper()
	_, linkKey, _ := ed25519.GenerateKey(rand.Reader)
	f, err := fleet.Open(context.Background(), fleet.Config{Edge: name, Identity: tf.identity, LinkKey: linkKey,
		Link: "127.0.0.1:0", Redis: fleet.RedisConfig{Addr: tf.redis.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // after the gateway's drain, which is registered later
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	if err := f.AwaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	return newFixture(t, func(c *gateway.Config) {
		c.Identity, c.Secrets, c.Fleet = tf.identity, []session.Secret{tf.secret}, f
		if tweak != nil {
			tweak(c)
		}
	})
}

// A carrier cut at edge a comes back through edge b: the session, its stream and its
// backend connection stay on a, reached through b; a's later loss is told at once.
func TestResumeThroughAnotherEdgeKeepsTheSession(t *testing.T) {
	tf := newTestFleet(t)
	addr, conns := countingBackend(t)
	counted := func(c *gateway.Config) { c.Services["counted"] = addr }
	a, b := tf.edge(t, "a", counted), tf.edge(t, "b", counted)

	s, carrier, cc := a.session(t)
	conn, err := s.OpenStream(context.Background(), "counted")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, "through edge a")
	carrier.Close()
	<-s.CarrierDone()

	ccB := *cc
	ccB.Endpoint = b.bridge.Endpoint()
	if err := b.resume(t, s, &ccB); err != nil {
		t.Fatalf("resume through edge b: %v", err)
	}
	echo(t, conn, "through edge b, to edge a")
	if n := conns.Load(); n != 1 {
		t.Errorf("the backend saw %d connections; want 1: the stream is the same one, on edge a", n)
	}
	b.waitMetric(t, `umbrella_gateway_resumes_total{result="relayed"} 1`)
	a.waitMetric(t, `umbrella_fleet_handoffs_total{result="resumed"} 1`)

	// Edge a goes while the session waits for its client; the session with it. Edge
	// b tells the client so at once.
	s.DropCarrier()
	<-s.CarrierDone()
	<-a.g.Drain()
	if err := b.resume(t, s, &ccB); !errors.Is(err, session.ErrResumeRejected) {
		t.Fatalf("resume through edge b with edge a gone: %v; want ErrResumeRejected", err)
	}
}

// A hello accepted by one edge and replayed to another that shares its bridge line
// (one address in front of both) gets what garbage gets; a copy of the gateway
// outside the fleet answers it, so only the shared cache stopped it.
func TestAHelloReplayedToAnotherEdgeGetsWhatGarbageGets(t *testing.T) {
	tf := newTestFleet(t)
	const shared = "edge.example.org:443"
	var listen string
	public := func(c *gateway.Config) {
		var err error
		if listen, err = freeport.TCP("127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		lab.WithListener(tcp.New(), listen, shared, nil)(c)
	}
	a := tf.edge(t, "a", public)
	a.addr = listen
	b := tf.edge(t, "b", public)
	b.addr = listen
	alone := newFixture(t, func(c *gateway.Config) {
		c.Identity, c.Secrets = tf.identity, []session.Secret{tf.secret}
		public(c)
	})
	alone.addr = listen

	hello := recordHello(t, a)
	if got := replay(t, b, hello); len(got) != 0 {
		t.Fatalf("edge b answered a hello edge a had answered, with %d bytes", len(got))
	}
	b.waitMetric(t, `umbrella_gateway_handshakes_total{reason="replay",result="failed",transport="tcp"} 1`)
	if got := replay(t, alone, hello); len(got) == 0 {
		t.Fatal("a gateway outside the fleet did not answer the replayed hello: the test shows nothing")
	}
}

// replay sends hello to f's listener and returns the first byte that came back, if
// any came before the gateway closed the connection.
func replay(t *testing.T, f *fixture, hello []byte) []byte {
	t.Helper()
	c := f.carrier(t)
	defer c.Close()
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(hangTimeout))
	got := make([]byte, 1)
	n, err := io.ReadFull(c, got)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("replayed hello: %v; want an answer or a close", err)
	}
	return got[:n]
}

// recordHello runs a session through f's listener and returns its client hello.
func recordHello(t *testing.T, f *fixture) []byte {
	t.Helper()
	conn := &recording{Conn: f.carrier(t)}
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	s, err := session.Client(ctx, conn, &session.ClientConfig{GatewayKey: f.bridge.Key, Secret: f.bridge.Secret, Endpoint: f.bridge.Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	return conn.first
}

// recording keeps a copy of the first write: the client hello, sent in one.
type recording struct {
	net.Conn
	first []byte
}

func (r *recording) Write(p []byte) (int, error) {
	if r.first == nil {
		r.first = append([]byte(nil), p...)
	}
	return r.Conn.Write(p)
}

// A secret an operator takes out of one edge's config (SIGHUP) is refused by the
// other edges too, without touching them.
func TestASecretRevokedOnOneEdgeIsRefusedByTheOthers(t *testing.T) {
	tf := newTestFleet(t)
	leaked := config.GenerateSecret()
	both := func(c *gateway.Config) { c.Secrets = []session.Secret{leaked, tf.secret} }
	a, b := tf.edge(t, "a", both), tf.edge(t, "b", both)
	withLeaked := b.bridge
	withLeaked.Secret = leaked
	handshake := func() error {
		conn := b.carrier(t)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
		defer cancel()
		s, err := session.Client(ctx, conn, &session.ClientConfig{GatewayKey: withLeaked.Key, Secret: leaked, Endpoint: withLeaked.Endpoint()})
		if err == nil {
			s.Close()
		}
		return err
	}
	if err := handshake(); err != nil {
		t.Fatalf("the secret before its revocation, at edge b: %v", err)
	}
	if got := b.g.Bridges()[0].Secret; got != leaked {
		t.Fatal("edge b does not print its first secret in its bridge lines: the check below shows nothing")
	}
	if err := a.g.Reload(gateway.Policy{Secrets: []session.Secret{tf.secret}}); err != nil {
		t.Fatal(err)
	}
	b.waitMetric(t, "umbrella_fleet_revocations 1")
	if err := handshake(); !errors.Is(err, session.ErrNoAnswer) {
		t.Fatalf("the revoked secret at edge b: %v; want ErrNoAnswer, what garbage gets", err)
	}
	if got := b.g.Bridges()[0].Secret; got != tf.secret {
		t.Error("edge b still prints the revoked secret in its bridge lines")
	}
}
