package httpfront_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/internal/httpfront/probetest"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// TestTLSFrontMeetsProbesAsNginx sends an active prober's probes to a web front that
// terminates TLS itself (webtunnel's and websocket's listeners without nginx), and to
// a real nginx HTTPS site, and wants the same reaction from both, probe by probe; and
// for the probes nginx waits on (an SSLv2 hello or a ClientHello longer than what
// came, an unfinished request head), the same give-up at the same time.
func TestTLSFrontMeetsProbesAsNginx(t *testing.T) {
	t.Parallel()
	probetest.CompareFront(t, "www.example.com", tlsFront(t))
}

// tlsFront starts a web front that terminates TLS itself, as webtunnel's and
// websocket's listeners do without nginx, and returns its address.
func tlsFront(t *testing.T) string {
	t.Helper()
	tlsConfig, id, err := tlskit.ServerConfig(transports.Args{"servername": "www.example.com"}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := httpfront.Listen(t.Context(), "127.0.0.1:0", httpfront.Config{
		Options: httpfront.Options{TLS: tlsConfig, ServerName: id.ServerName, Path: "/0123456789abcdef"},
		Name:    "test",
		Match:   func(*http.Request) bool { return true },
		Upgrade: func(c *httpfront.Conn, _ *http.Request) (net.Conn, error) { return c, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}
