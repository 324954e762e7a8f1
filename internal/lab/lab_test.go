package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports/all"
)

// Every registered transport must come up on loopback with ListenerArgs and carry a
// session to a backend; the demo and the benchmarks rely on it.
func TestEveryTransportRunsOnLoopback(t *testing.T) {
	reg := all.Registry()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go backend.EchoConn(c)
		}
	}()
	_, identity, _ := ed25519.GenerateKey(rand.Reader)
	var secret session.Secret
	rand.Read(secret[:])
	cfg := gateway.Config{
		Identity: identity,
		Secrets:  []session.Secret{secret},
		Services: map[string]string{"echo": echo.Addr().String()},
		StateDir: t.TempDir(),
	}
	for _, name := range reg.Names() {
		args, err := ListenerArgs(name)
		if err != nil {
			t.Fatal(err) // CI installs every program a transport needs
		}
		tr, _ := reg.Get(name)
		cfg.Listeners = append(cfg.Listeners, gateway.ListenerConfig{Transport: tr, Listen: "127.0.0.1:0", Args: args})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, err := gateway.Listen(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	gctx, stop := context.WithCancel(ctx)
	go func() { served <- g.Serve(gctx) }()
	defer func() { stop(); <-served }()

	bridges := g.Bridges()
	if len(bridges) != len(reg.Names()) {
		t.Fatalf("gateway printed %d bridge lines for %d transports", len(bridges), len(reg.Names()))
	}
	for _, b := range bridges {
		b.Secret = secret
		t.Run(b.Transport, func(t *testing.T) {
			c, err := client.New(client.Config{Bridges: []config.Bridge{b}, Transports: reg})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conn, err := c.Dial(ctx, "echo")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			msg := make([]byte, 64<<10)
			rand.Read(msg)
			go conn.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(conn, got); err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256(got) != sha256.Sum256(msg) {
				t.Fatal("echo differs from what was sent")
			}
		})
	}
}
