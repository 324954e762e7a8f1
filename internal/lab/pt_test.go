package lab

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/obfs4"
	"github.com/umbrella-edge/edge/transports/pt"
)

// The interop tests run obfs4 between our implementation and Debian's obfs4proxy, both
// ways, under a real gateway in front of an echo service.

// newPT returns a pt transport that runs obfs4proxy for obfs4, closed when t ends. The
// absence of obfs4proxy fails the test: CI installs it.
func newPT(t *testing.T) *pt.Transport {
	t.Helper()
	path, err := exec.LookPath(PTProgram)
	if err != nil {
		t.Fatalf("install %s (apt-get install %[1]s)", PTProgram)
	}
	tr := pt.New(pt.Config{Binaries: map[string]string{PTMethod: path}, StateDir: t.TempDir()})
	t.Cleanup(func() { tr.Close() })
	return tr
}

// ptGateway runs a gateway with one listener of tr and returns its bridge line. A PT
// program's handshakes take their time on a loaded machine: the gateway's default.
func ptGateway(t *testing.T, tr transports.Transport, args transports.Args) bridge.Line {
	t.Helper()
	return StartGateway(t, WithListener(tr, "127.0.0.1:0", "", args), func(c *gateway.Config) {
		c.HandshakeTimeout = limits.DefaultHandshakeTimeout
	}).Bridge()
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
	stream, err := sess.OpenStream(ctx, Service)
	if err != nil {
		t.Fatalf("stream to %s: %v", Service, err)
	}
	if err := exchange(ctx, stream, 1<<20, nil); err != nil {
		t.Fatal(err)
	}
}

// TestInteropOurObfs4ClientToObfs4proxyServer: the gateway runs obfs4proxy as its
// obfs4 server; our own obfs4 client reaches it with the cert= and iat-mode= that
// obfs4proxy reported.
func TestInteropOurObfs4ClientToObfs4proxyServer(t *testing.T) {
	b := ptGateway(t, newPT(t), transports.Args{"method": PTMethod})
	if b.Transport != pt.Name || b.Args["method"] != PTMethod || b.Args["cert"] == "" || b.Args["iat-mode"] == "" {
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
	b := ptGateway(t, obfs4.New(), nil)
	d, err := newPT(t).NewDialer(b.Addr, transports.Args{"method": PTMethod, "cert": b.Args["cert"], "iat-mode": b.Args["iat-mode"]})
	if err != nil {
		t.Fatal(err)
	}
	echoThroughSession(t, d, b)
}

// TestPTBridgeLineThroughTheClient: the bridge line a gateway prints for a pt listener
// works, as printed, for a client whose registry has the pt transport.
func TestPTBridgeLineThroughTheClient(t *testing.T) {
	tr := newPT(t)
	b := ptGateway(t, tr, transports.Args{"method": PTMethod})
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
	if err := echo(ctx, c, 1<<20); err != nil {
		t.Fatalf("through the client: %v", err)
	}
}
