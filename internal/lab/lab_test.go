package lab

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/transports/all"
)

// Every line of the lab, the gateway's own, those through the CDN and dns's through
// the resolver, carries a session through the censor to the backend: the demo, the
// benchmarks and the scenarios rely on each transport coming up on loopback with
// ListenerArgs.
func TestEveryLineCarriesASession(t *testing.T) {
	l := startLab(t, Options{Resolver: true})
	lines := l.Lines()
	if want := len(all.Names()) + 2; len(lines) != want {
		t.Fatalf("the lab has %d bridge lines, want one per transport and two through the CDN (%d)", len(lines), want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, ln := range lines {
		t.Run(ln.Route.Name, func(t *testing.T) {
			if ln.Bridge.Addr != ln.Route.Listen {
				t.Fatalf("bridge line dials %s, not its censor route %s", ln.Bridge.Addr, ln.Route.Listen)
			}
			c, err := l.Client(client.Config{Bridges: []bridge.Line{ln.Bridge}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := echo(ctx, c, 64<<10); err != nil {
				t.Fatal(err)
			}
			if !routeCarried(l, ln.Route.Name) {
				t.Errorf("the censor saw no flow on route %s", ln.Route.Name)
			}
		})
	}
}

// routeCarried reports whether the censor judged a flow on route.
func routeCarried(l *Lab, route string) bool {
	for _, d := range l.Censor.Decisions() {
		if d.Flow.Route == route {
			return true
		}
	}
	for _, f := range l.Censor.Flows() {
		if f.Route == route {
			return true
		}
	}
	return false
}

// Close leaves nothing running: no goroutine of the lab's and no nginx.
func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := Start(ctx, Options{Transports: []string{"tcp", "websocket", "meek"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Client(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := echo(ctx, c, 1<<10); err != nil {
		t.Fatal(err)
	}
	c.Close()
	edges := map[string]bool{}
	for _, ln := range l.Lines() {
		if ln.Fronted {
			edges[ln.Route.Upstream] = true
		}
	}
	if len(edges) != 2 {
		t.Fatalf("want the CDN in front of websocket and meek, got edges %v", edges)
	}
	l.Close()
	for edge := range edges {
		if conn, err := net.DialTimeout("tcp", edge, 5*time.Second); err == nil {
			conn.Close()
			t.Errorf("nginx still accepts on %s after Close", edge)
		}
	}
	// Goroutines end a moment after the conns they served close; wait for them, only
	// as long as it takes not to hang.
	var now int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if now = runtime.NumGoroutine(); now <= before {
			return
		}
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	t.Errorf("%d goroutines before Start, %d after Close:\n%s", before, now, trimStacks(stacks))
}

// trimStacks keeps the first line of each goroutine's stack and its top frame.
func trimStacks(s string) string {
	var out []string
	for _, g := range strings.Split(s, "\n\n") {
		lines := strings.Split(g, "\n")
		out = append(out, strings.Join(lines[:min(len(lines), 3)], "\n"))
	}
	return strings.Join(out, "\n")
}
