package meek_test

import (
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront/probetest"
	"github.com/umbrella-edge/edge/transports/meek"
)

// TestOwnFrontMeetsProbesAsNginx sends an active prober's probes to meek's listener
// terminating TLS itself and to a real nginx HTTPS site, and wants the same reaction
// from both, probe by probe (among them plain HTTP to the TLS port, whose 400 nginx
// sends and closes at once), and for the probes nginx waits on, the same give-up at
// the same time.
func TestOwnFrontMeetsProbesAsNginx(t *testing.T) {
	t.Parallel()
	probetest.CompareFront(t, "www.example.com", ownFront(t))
}

// ownFront starts meek's listener terminating TLS itself and returns its address.
func ownFront(t *testing.T) string {
	t.Helper()
	ln, err := meek.New(nil).Listen(t.Context(), transports.ListenConfig{
		Addr:     "127.0.0.1:0",
		Args:     transports.Args{"servername": "www.example.com"},
		StateDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}
