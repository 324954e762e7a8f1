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
// a real nginx HTTPS site, and wants the same reaction from both, probe by probe.
func TestTLSFrontMeetsProbesAsNginx(t *testing.T) {
	nginx := probetest.Nginx(t, "www.example.com")
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
	probetest.Compare(t, nginx, ln.Addr().String())
}
