package meek_test

import (
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront/probetest"
	"github.com/umbrella-edge/edge/transports/meek"
)

// TestOwnFrontMeetsProbesAsNginx sends an active prober's probes to meek's listener
// terminating TLS itself and to a real nginx HTTPS site, and wants the same reaction
// from both, probe by probe; among them plain HTTP to the TLS port, whose 400 nginx
// sends and closes at once.
func TestOwnFrontMeetsProbesAsNginx(t *testing.T) {
	nginx := probetest.Nginx(t, "www.example.com")
	ln, err := meek.New(nil).Listen(t.Context(), transports.ListenConfig{
		Addr:     "127.0.0.1:0",
		Args:     transports.Args{"servername": "www.example.com"},
		StateDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	probetest.Compare(t, nginx, ln.Addr().String())
}
