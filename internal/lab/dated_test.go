package lab

import (
	"context"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// Carriers set up by an HTTP exchange tell the client their server's clock (the
// gateway's own 101 or meek answer, or nginx's as a CDN): what a client whose clock is
// off learns the right time from.
func TestHTTPCarriersTellTheServersDate(t *testing.T) {
	l := startLab(t, Options{Transports: []string{"webtunnel", "websocket", "meek"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ln := range l.Lines() {
		t.Run(ln.Route.Name, func(t *testing.T) {
			tr, err := l.Registry.Get(ln.Bridge.Transport)
			if err != nil {
				t.Fatal(err)
			}
			d, err := tr.NewDialer(ln.Bridge.Addr, ln.Bridge.Args)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := d.Dial(ctx)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			dated, ok := conn.(transports.Dated)
			if !ok {
				t.Fatalf("a %s carrier (%T) does not tell its server's Date", ln.Bridge.Transport, conn)
			}
			// A Date has a one-second resolution; the lab's servers share this clock.
			if date := dated.ServerDate(); date.IsZero() || time.Since(date).Abs() > 5*time.Second {
				t.Errorf("server Date %v, want about now (%v)", date, time.Now().UTC())
			}
		})
	}
}
