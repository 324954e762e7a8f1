package meek_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// TestEndToEndThroughFrontedNginx moves 1 MiB each way between a client and the echo
// service behind the gateway, with the client's first bridge line pointing at the
// gateway's own address, which is unreachable (as under an IP block): the session can
// only come through the nginx "CDN", by meek.
func TestEndToEndThroughFrontedNginx(t *testing.T) {
	l := startLab(t)
	if l.bridge.Addr != l.front.addr || l.bridge.Args["servername"] != frontName || l.bridge.Args["url"] != serviceURL {
		t.Fatalf("gateway prints the bridge line %s; want the front's address %s, servername=%s url=%s",
			l.bridge.Redacted(), l.front.addr, frontName, serviceURL)
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
	t.Logf("1 MiB each way carried by %s via nginx at %s (SNI %s, Host %s)", c.Active(), l.front.addr, frontName, serviceName)
}

// unreachable returns a loopback address nothing listens on.
func unreachable(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", gatewayHost+":0")
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
