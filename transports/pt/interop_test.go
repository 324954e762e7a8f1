package pt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/obfs4"
)

// The interop tests run obfs4 between our implementation and Debian's obfs4proxy, both
// ways, under a real gateway in front of an echo service.

// startGateway runs a gateway with one listener in front of an echo service and returns
// the bridge line it prints.
func startGateway(t *testing.T, lc gateway.ListenerConfig) bridge.Line {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	echoLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoDone := make(chan struct{})
	go func() { backend.Echo{}.Serve(ctx, echoLn); close(echoDone) }()
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	var secret session.Secret
	rand.Read(secret[:])
	g, err := gateway.Listen(ctx, gateway.Config{
		Identity:         id,
		Secrets:          []session.Secret{secret},
		Listeners:        []gateway.ListenerConfig{lc},
		Services:         map[string]string{"echo": echoLn.Addr().String()},
		StateDir:         t.TempDir(),
		HandshakeTimeout: 10 * time.Second,
		DrainTimeout:     time.Second,
	})
	if err != nil {
		cancel()
		t.Fatalf("gateway.Listen: %v", err)
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
	return g.Bridges()[0]
}

// echoThroughSession opens a session to b over a carrier from d, a stream to the echo
// service, and checks that 1 MiB comes back intact.
func echoThroughSession(t *testing.T, d transports.Dialer, b bridge.Line) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	carrier, err := d.Dial(ctx)
	if err != nil {
		t.Fatalf("carrier: %v", err)
	}
	sess, err := session.Client(ctx, carrier, &session.ClientConfig{GatewayKey: b.Key, Secret: b.Secret, Endpoint: b.Endpoint()})
	if err != nil {
		carrier.Close()
		t.Fatalf("session over the carrier: %v", err)
	}
	defer sess.Close()
	stream, err := sess.OpenStream(ctx, "echo")
	if err != nil {
		t.Fatalf("stream to echo: %v", err)
	}
	echoTransfer(t, stream, 1<<20)
}

// echoTransfer writes n random bytes to conn while reading them back.
func echoTransfer(t *testing.T, conn net.Conn, n int) {
	t.Helper()
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	data := make([]byte, n)
	rand.Read(data)
	wrote := make(chan error, 1)
	go func() { _, err := conn.Write(data); wrote <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the echo differs from what was sent")
	}
}

// TestInteropOurObfs4ClientToObfs4proxyServer: the gateway runs obfs4proxy as its
// obfs4 server; our own obfs4 client reaches it with the cert= and iat-mode= that
// obfs4proxy reported.
func TestInteropOurObfs4ClientToObfs4proxyServer(t *testing.T) {
	b := startGateway(t, gateway.ListenerConfig{
		Transport: newTransport(t),
		Listen:    "127.0.0.1:0",
		Args:      transports.Args{"method": "obfs4"},
	})
	if b.Transport != Name || b.Args["method"] != "obfs4" || b.Args["cert"] == "" || b.Args["iat-mode"] == "" {
		t.Fatalf("bridge line %s: want pt with method=obfs4, cert= and iat-mode=", b.Redacted())
	}
	d, err := obfs4.New().NewDialer(b.Addr, transports.Args{"cert": b.Args["cert"], "iat-mode": b.Args["iat-mode"]})
	if err != nil {
		t.Fatal(err)
	}
	echoThroughSession(t, d, b)
}

// TestInteropObfs4proxyClientToOurObfs4Listener: obfs4proxy, run as a PT client,
// reaches the gateway's own obfs4 listener.
func TestInteropObfs4proxyClientToOurObfs4Listener(t *testing.T) {
	b := startGateway(t, gateway.ListenerConfig{Transport: obfs4.New(), Listen: "127.0.0.1:0"})
	d, err := newTransport(t).NewDialer(b.Addr, transports.Args{"method": "obfs4", "cert": b.Args["cert"], "iat-mode": b.Args["iat-mode"]})
	if err != nil {
		t.Fatal(err)
	}
	echoThroughSession(t, d, b)
}

// TestPTBridgeLineThroughTheClient: the bridge line a gateway prints for a pt listener
// works, as printed, for a client whose registry has the pt transport.
func TestPTBridgeLineThroughTheClient(t *testing.T) {
	tr := newTransport(t)
	b := startGateway(t, gateway.ListenerConfig{Transport: tr, Listen: "127.0.0.1:0", Args: transports.Args{"method": "obfs4"}})
	parsed, err := bridge.Parse(b.String())
	if err != nil {
		t.Fatalf("the printed bridge line does not parse: %v", err)
	}
	reg, err := transports.NewRegistry(tr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Bridges: []bridge.Line{parsed}, Transports: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := c.Dial(ctx, "echo")
	if err != nil {
		t.Fatalf("client Dial: %v", err)
	}
	echoTransfer(t, conn, 1<<20)
}

// TestObfs4proxyKeepsOurObfs4Identity: obfs4proxy started on our obfs4 listener's
// state directory serves the same identity, so an operator can switch implementations
// without handing out new certs.
func TestObfs4proxyKeepsOurObfs4Identity(t *testing.T) {
	dir := t.TempDir()
	ours, err := obfs4.New().Listen(context.Background(), transports.ListenConfig{
		Addr: "127.0.0.1:0", StateDir: filepath.Join(dir, "server-obfs4"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ours.BridgeArgs()["cert"]
	ours.Close()
	if got := listenObfs4(t, newTransport(t), dir).BridgeArgs()["cert"]; got != want {
		t.Errorf("obfs4proxy on our state serves cert %s, want %s", got, want)
	}
}
