package utls_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront/probetest"
	"github.com/umbrella-edge/edge/transports/utls"
)

// TestProbesMeetWhatNginxShows sends an active prober's probes (random bytes of many
// lengths, broken TLS records and hellos, plain HTTP) to a utls listener whose every
// peer the gateway rejects, and to a real nginx HTTPS site, and wants the same
// reaction from both, probe by probe: same first answer, same FIN, RST or wait.
func TestProbesMeetWhatNginxShows(t *testing.T) {
	nginx := probetest.Nginx(t, "www.example.com")
	ln, err := utls.New(nil).Listen(context.Background(), transports.ListenConfig{
		Addr: "127.0.0.1:0", Args: transports.Args{"servername": "www.example.com"}, StateDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go rejectEveryone(ln)
	probetest.Compare(t, nginx, ln.Addr().String())
}

// rejectEveryone does what the gateway does with a peer that opens no session: it
// reads the first bytes within its handshake timeout, then has the transport answer
// them.
func rejectEveryone(ln transports.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			c.SetReadDeadline(time.Time{})
			c.(transports.Rejecter).Reject(buf[:n])
		}()
	}
}

// TestTLS13ServerHelloIsShapedAsNginxs: to a client offering a post-quantum key share
// as browsers do, nginx with OpenSSL 3.0 answers X25519; so must the listener, or its
// ServerHello is ten times as long. (TLS 1.2 ServerHellos still differ: Go sends no
// session ID and its extensions in another order, which crypto/tls does not let us
// change.)
func TestTLS13ServerHelloIsShapedAsNginxs(t *testing.T) {
	nginx := probetest.Nginx(t, "www.example.com")
	ln, err := utls.New(nil).Listen(context.Background(), transports.ListenConfig{
		Addr: "127.0.0.1:0", Args: transports.Args{"servername": "www.example.com"}, StateDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go rejectEveryone(ln)
	want := probetest.ServerHello(t, nginx, tls.VersionTLS13)
	if got := probetest.ServerHello(t, ln.Addr().String(), tls.VersionTLS13); got.String() != want.String() {
		t.Fatalf("ServerHello: %v; nginx's: %v", got, want)
	}
}
