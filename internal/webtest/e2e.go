package webtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// Gateway runs a gateway with one listener of tr on listen, printed in bridge lines as
// public, in front of an echo service called "echo". It returns the listener's bridge
// line and stops everything when the test ends.
func Gateway(t *testing.T, tr transports.Transport, listen, public string, args transports.Args) bridge.Line {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoDone := make(chan struct{})
	go func() { backend.Echo{}.Serve(ctx, echo); close(echoDone) }()
	_, id, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var secret session.Secret
	rand.Read(secret[:])
	g, err := gateway.Listen(ctx, gateway.Config{
		Identity:  id,
		Secrets:   []session.Secret{secret},
		Listeners: []gateway.ListenerConfig{{Transport: tr, Listen: listen, Public: public, Args: args}},
		Services:  map[string]string{"echo": echo.Addr().String()},
		StateDir:  t.TempDir(),
		// Short, so rejected carriers close within the test.
		HandshakeTimeout: 2 * time.Second,
		DrainTimeout:     2 * time.Second,
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

// Transfer sends size random bytes through a client session on b to the echo
// service and checks that the same bytes come back (by SHA-256). It returns the
// transport that carried them.
func Transfer(t *testing.T, tr transports.Transport, b bridge.Line, size int) string {
	t.Helper()
	reg, err := transports.NewRegistry(tr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Bridges: []bridge.Line{b}, Transports: reg, HandshakeTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("client.New(%s): %v", b, err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, "echo")
	if err != nil {
		t.Fatalf("Dial(echo) over %s: %v", b, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second)) // only keeps a broken path from hanging

	sent := make([]byte, size)
	rand.Read(sent)
	wrote := make(chan error, 1)
	go func() {
		_, err := conn.Write(sent)
		wrote <- err
	}()
	got := make([]byte, size)
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("reading the echo of %d bytes: %v", size, err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("writing %d bytes: %v", size, err)
	}
	if sum, want := sha256.Sum256(got), sha256.Sum256(sent); !bytes.Equal(sum[:], want[:]) {
		t.Fatalf("echo of %d bytes has SHA-256 %x, want %x", size, sum, want)
	}
	return c.Active()
}
