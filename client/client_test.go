package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// startGateway runs a gateway with one tcp listener in front of an echo service and
// returns its bridge line.
func startGateway(t *testing.T) config.Bridge {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { backend.Echo{}.Serve(ctx, echo) })
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	var secret session.Secret
	rand.Read(secret[:])
	g, err := gateway.Listen(ctx, gateway.Config{
		Identity:         id,
		Secrets:          []session.Secret{secret},
		Listeners:        []gateway.ListenerConfig{{Transport: tcp.New(), Listen: "127.0.0.1:0"}},
		Services:         map[string]string{"echo": echo.Addr().String()},
		HandshakeTimeout: 500 * time.Millisecond,
		DrainTimeout:     time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { g.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return g.Bridges()[0]
}

func registry(t *testing.T) *transports.Registry {
	r, err := transports.NewRegistry(tcp.New())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// deadBridge is a bridge line whose address refuses connections.
func deadBridge(t *testing.T, good config.Bridge) config.Bridge {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	b := good
	b.Addr = addr
	return b
}

func TestDialFallsThroughToAWorkingBridge(t *testing.T) {
	good := startGateway(t)
	var events []string
	var mu sync.Mutex
	c, err := client.New(client.Config{
		Bridges:    []config.Bridge{deadBridge(t, good), good},
		Transports: registry(t),
		OnEvent: func(e client.Event) {
			mu.Lock()
			events = append(events, e.Kind.String())
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, "echo")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	conn.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q, %v", buf, err)
	}
	if c.Active() != "tcp" {
		t.Errorf("Active() = %q, want tcp", c.Active())
	}
	mu.Lock()
	got := strings.Join(events, ",")
	mu.Unlock()
	if want := "attempt,failed,attempt,active"; got != want {
		t.Errorf("events %s, want %s", got, want)
	}
}

func TestDialReportsEveryBridgeFailure(t *testing.T) {
	good := startGateway(t)
	wrongKey := good
	wrongKey.Key, _, _ = ed25519.GenerateKey(rand.Reader)
	c, err := client.New(client.Config{
		Bridges:    []config.Bridge{deadBridge(t, good), wrongKey},
		Transports: registry(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.Dial(ctx, "echo")
	var ce *client.ConnectError
	if !errors.As(err, &ce) || len(ce.Failures) != 2 {
		t.Fatalf("Dial error %v, want a ConnectError with two failures", err)
	}
	if !errors.Is(err, client.ErrAllBridgesFailed) || !errors.Is(err, session.ErrAuth) {
		t.Errorf("error %v should match ErrAllBridgesFailed and session.ErrAuth", err)
	}
	if !strings.Contains(ce.Failures[0].Error(), "bridge 0 (tcp): dial") {
		t.Errorf("first failure %q should name the bridge and the step", ce.Failures[0])
	}
}

func TestNewNamesTheBadBridge(t *testing.T) {
	good := config.Bridge{Transport: "tcp", Addr: "127.0.0.1:1"}
	typo := config.Bridge{Transport: "tpc", Addr: "127.0.0.1:1"}
	badArg := config.Bridge{Transport: "tcp", Addr: "127.0.0.1:1", Args: transports.Args{"fp": "chrome"}}
	for _, tc := range []struct {
		name    string
		bridges []config.Bridge
		want    string
	}{
		{"no bridges", nil, "no bridges"},
		{"unknown transport", []config.Bridge{good, typo}, `bridge 1: unknown transport "tpc"`},
		{"unknown argument", []config.Bridge{badArg}, "fp="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.New(client.Config{Bridges: tc.bridges, Transports: registry(t)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDialAfterCloseFails(t *testing.T) {
	good := startGateway(t)
	c, err := client.New(client.Config{Bridges: []config.Bridge{good}, Transports: registry(t)})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Dial(ctx, "echo"); err == nil {
		t.Fatal("Dial after Close succeeded")
	}
}
