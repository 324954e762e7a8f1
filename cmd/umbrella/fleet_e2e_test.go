package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/internal/redistest"
	"github.com/umbrella-edge/edge/session"
)

// A fleet (issue 16): three real gateway processes share a real redis-server; the
// client reaches each through its own route of the real censor, which blocks and
// cuts them one by one. Each edge also listens on an endpoint the three share, as
// edges behind one address do, where the test replays hellos itself.

var fleetEdges = []string{"edge-a", "edge-b", "edge-c"}

const fleetRedisPassword = "fleet-e2e-password"

type fleetEdge struct {
	name   string
	proc   *process
	config string
	yaml   string // the config as written, for the revocation's rewrite
	state  string
	admin  string
	listen string // the tcp listener behind the censor's route
	shared string // the tcp listener whose bridge line names the shared endpoint
	line   bridge.Line
}

type fleetWorld struct {
	bin     string
	redis   *redistest.Server
	edges   []*fleetEdge
	admin   string // the censor's
	socks   string
	client  *process
	shared  session.Endpoint
	leaked  session.Secret
	keyDir  string
	service map[string]string
	open    int // the edge the censor lets through
}

func startFleetWorld(t *testing.T, bin string) *fleetWorld {
	t.Helper()
	dir := t.TempDir()
	redis, err := redistest.Run(context.Background(), filepath.Join(dir), redistest.Options{Password: fleetRedisPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(redis.Kill)
	w := &fleetWorld{bin: bin, redis: redis, admin: freePort(t), socks: freePort(t), keyDir: filepath.Join(dir, "fleet-keys"),
		shared:  session.Endpoint{Transport: "tcp", Address: freePort(t)},
		service: map[string]string{"echo": startEcho(t)}}

	// The operator makes the fleet's identity and secrets once, and copies them to
	// every edge.
	for _, secret := range []string{"secret.key", "leaked.key"} {
		if err := run(context.Background(), []string{"keygen", "--state-dir", w.keyDir, "--secret", secret}, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	if w.leaked, err = config.LoadSecret(filepath.Join(w.keyDir, "leaked.key")); err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, name := range fleetEdges {
		e := w.startEdge(t, name, dir)
		w.edges = append(w.edges, e)
		routes = append(routes, "--route", strings.Join([]string{name, name, "tcp", e.line.Addr, e.listen}, ","))
	}
	// The client's first carrier goes to edge-a: the others are blocked until a cut.
	args := append([]string{"censor", "--admin", w.admin,
		"--policy", "ip-block:transport=edge-b", "--policy", "ip-block:transport=edge-c"}, routes...)
	start(t, bin, args...).awaitPort(t, "the censor's admin API", w.admin)
	return w
}

func (w *fleetWorld) startEdge(t *testing.T, name, dir string) *fleetEdge {
	t.Helper()
	e := &fleetEdge{name: name, state: filepath.Join(dir, name), admin: freePort(t), listen: freePort(t), shared: freePort(t)}
	if err := os.MkdirAll(e.state, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"identity.key", "secret.key", "leaked.key"} {
		copyFile(t, filepath.Join(w.keyDir, f), filepath.Join(e.state, f))
	}
	if err := os.WriteFile(filepath.Join(e.state, "redis.password"), []byte(fleetRedisPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	route := freePort(t)
	e.yaml = fmt.Sprintf(`state_dir: %s
secrets: [secret.key, leaked.key]
listeners:
  - {transport: tcp, listen: %s, public: %s}
  - {transport: tcp, listen: %s, public: %s}
services: {echo: %s}
admin: %s
limits: {handshake_timeout: 2s}
log: {level: debug}
fleet:
  edge: %s
  link: %s
  redis: {addr: %s, password_file: redis.password}
`, e.state, e.listen, route, e.shared, w.shared.Address, w.service["echo"], e.admin, name, freePort(t), w.redis.Addr)
	e.config = filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(e.config, []byte(e.yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e.proc = start(t, w.bin, "gateway", "--config", e.config)
	e.proc.await(t, name+"'s bridge lines", fileExists(filepath.Join(e.state, bridgesFile)))
	e.proc.awaitLog(t, name+" joining the fleet", "fleet: Redis reachable")
	lines, err := os.ReadFile(filepath.Join(e.state, bridgesFile))
	if err != nil {
		t.Fatal(err)
	}
	if e.line, err = bridge.Parse(strings.Split(string(lines), "\n")[0]); err != nil {
		t.Fatal(err)
	}
	return e
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// awaitLog waits until the process has printed a line holding s.
func (p *process) awaitLog(t *testing.T, what, s string) {
	t.Helper()
	p.await(t, what, func() error {
		if !strings.Contains(p.out.String(), s) {
			return fmt.Errorf("no %q in its output yet", s)
		}
		return nil
	})
}

// startClient runs the client with the three edges' bridge lines, through the censor.
func (w *fleetWorld) startClient(t *testing.T) {
	t.Helper()
	var y strings.Builder
	y.WriteString("bridges:\n")
	for _, e := range w.edges {
		fmt.Fprintf(&y, "  - %s\n", e.line)
	}
	fmt.Fprintf(&y, "socks: %s\nlog: {level: debug}\n", w.socks)
	path := filepath.Join(filepath.Dir(w.edges[0].config), "client.yaml")
	if err := os.WriteFile(path, []byte(y.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	w.client = start(t, w.bin, "client", "--config", path)
	w.client.awaitPort(t, "the client's SOCKS5 port", w.socks)
	w.client.awaitLog(t, "the client's first carrier, to edge-a", "active transport: tcp (bridge 0,")
}

// openOnly replaces the censor's policies: every edge but open is blocked.
func (w *fleetWorld) openOnly(t *testing.T, open int) {
	t.Helper()
	w.open = open
	var body strings.Builder
	for i, name := range fleetEdges {
		if i != open {
			fmt.Fprintf(&body, "ip-block:transport=%s\n", name)
		}
	}
	req, _ := http.NewRequest(http.MethodPut, "http://"+w.admin+"/policies", strings.NewReader(body.String()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("censor PUT /policies: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("censor PUT /policies: %s", resp.Status)
	}
}

// moveTo opens edge to alone, resets the client's carrier through the edge open so
// far, and waits until the client says its session resumed through edge to.
// moveTo opens only edge to, cuts the client's carrier through the open one, lets the
// sender past its stop for the cut, and waits for the session to resume through edge to.
func (w *fleetWorld) moveTo(t *testing.T, app *meter, to int, sender *stops, stop int) time.Time {
	t.Helper()
	from := w.open
	resumed := w.resumedThrough(to)
	w.openOnly(t, to)
	cut := w.cut(t, from)
	sender.cut(stop)
	app.waitFor(t, "the session resumed through "+fleetEdges[to], func() bool { return w.resumedThrough(to) > resumed })
	return cut
}

// cut resets the client's carriers through edge i.
func (w *fleetWorld) cut(t *testing.T, i int) time.Time {
	t.Helper()
	at := time.Now()
	resp, err := http.Post(fmt.Sprintf("http://%s/kill?transport=%s&mode=reset", w.admin, fleetEdges[i]), "", nil)
	if err != nil {
		t.Fatalf("censor /kill: %v", err)
	}
	resp.Body.Close()
	return at
}

// resumedThrough counts the resumes the client announced through edge i.
func (w *fleetWorld) resumedThrough(i int) int {
	return strings.Count(w.client.out.String(), fmt.Sprintf("(bridge %d, session resumed", i))
}

// metric reads one series' value from an edge's /metrics; "" if it is not there.
func (e *fleetEdge) metric(t *testing.T, series string) string {
	t.Helper()
	resp, err := http.Get("http://" + e.admin + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", e.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// wantMetric fails the test unless series on e's /metrics holds a value ok accepts.
func (e *fleetEdge) wantMetric(t *testing.T, series string, ok func(float64) bool, what string) {
	t.Helper()
	v := e.metric(t, series)
	if f, err := strconv.ParseFloat(v, 64); err != nil || !ok(f) {
		t.Errorf("%s %s = %q; want %s", e.name, series, v, what)
	}
}

// newSession opens a session to edge e's route-facing listener with secret, directly,
// and reports the error (nil: it opened, and was closed again).
func (w *fleetWorld) newSession(e *fleetEdge, secret session.Secret) error {
	conn, err := net.Dial("tcp", e.listen)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := session.Client(ctx, conn, &session.ClientConfig{GatewayKey: e.line.Key, Secret: secret, Endpoint: e.line.Endpoint()})
	if err == nil {
		s.Close()
	}
	return err
}

func TestFleet(t *testing.T) {
	bin := buildBinary(t)
	w := startFleetWorld(t, bin)
	w.startClient(t)
	a, b, c := w.edges[0], w.edges[1], w.edges[2]

	// The carrier to edge-a is cut, and edge-a is blocked: the session resumes through
	// edge-b, which relays it to edge-a; later through edge-c. Nothing is lost.
	t.Run("sessions survive the loss of an edge's address", func(t *testing.T) {
		conn := socks5Connect(t, w.socks, "echo", 443)
		defer conn.Close()
		w.transferThroughMoves(t, conn, 50<<20, []int{1})
		chat := socks5Connect(t, w.socks, "echo", 443)
		defer chat.Close()
		w.chatThroughMoves(t, chat, 10000, []int{2, 1})
		for _, e := range []*fleetEdge{b, c} {
			if v := e.metric(t, `umbrella_gateway_resumes_total{result="relayed"}`); v == "" || v == "0" {
				t.Errorf("%s relayed no resume (umbrella_gateway_resumes_total{result=\"relayed\"} %q)", e.name, v)
			}
		}
		t.Logf("edge-a answered %s relayed resumes", a.metric(t, `umbrella_fleet_handoffs_total{result="resumed"}`))
		w.checkSessionKept(t)
	})

	t.Run("a hello answered by one edge and replayed to another gets what garbage gets", func(t *testing.T) {
		hello := w.recordHello(t, a)
		garbage := make([]byte, len(hello))
		rand.Read(garbage)
		probes := map[string]struct {
			addr string
			data []byte
		}{
			"the hello replayed to edge-b": {b.shared, hello},
			"the hello replayed to edge-c": {c.shared, hello},
			"garbage sent to edge-b":       {b.shared, garbage},
		}
		// A rejected peer waits out a randomised silence: the probes wait side by side.
		var wg sync.WaitGroup
		for name, p := range probes {
			wg.Go(func() {
				if got, err := reaction(p.addr, p.data); len(got) != 0 || err != nil {
					t.Errorf("%s got %d bytes, then %v; want nothing, then a close", name, len(got), err)
				}
			})
		}
		wg.Wait()
		for _, e := range []*fleetEdge{b, c} {
			if v := e.metric(t, `umbrella_gateway_handshakes_total{reason="replay",result="failed",transport="tcp"}`); v != "1" {
				t.Errorf("%s counted %q hellos failed as replays; want 1", e.name, v)
			}
		}
	})

	t.Run("a secret revoked on one edge is refused by all", func(t *testing.T) {
		for _, e := range w.edges {
			if err := w.newSession(e, w.leaked); err != nil {
				t.Fatalf("%s refused the secret before its revocation: %v", e.name, err)
			}
		}
		yaml := strings.Replace(a.yaml, "secrets: [secret.key, leaked.key]", "secrets: [secret.key]", 1)
		if err := os.WriteFile(a.config, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		a.proc.cmd.Process.Signal(syscall.SIGHUP)
		var wg sync.WaitGroup
		for _, e := range w.edges {
			e.proc.awaitLog(t, e.name+" applying the revocation", "fleet: revocation applied")
			wg.Go(func() {
				if err := w.newSession(e, w.leaked); !errors.Is(err, session.ErrNoAnswer) {
					t.Errorf("%s with the revoked secret: %v; want ErrNoAnswer", e.name, err)
				}
			})
		}
		wg.Wait()
	})

	t.Run("Redis killed and restarted: established sessions go on", func(t *testing.T) {
		w.throughRedisOutage(t)
	})

	t.Run("the edge holding the session is gone: the client starts anew at once", func(t *testing.T) {
		a.proc.cmd.Process.Signal(syscall.SIGKILL)
		<-a.proc.exited
		ended := time.Now()
		w.client.awaitLog(t, "the client told its session is gone", "gateway rejected the resumption")
		conn := socks5Connect(t, w.socks, "echo", 443)
		defer conn.Close()
		echoTransfer(t, conn, 1000)
		t.Logf("edge-a killed → the client's new session carried data after %v", time.Since(ended).Round(time.Millisecond))
	})
}

func (w *fleetWorld) checkSessionKept(t *testing.T) {
	t.Helper()
	if out := w.client.out.String(); strings.Contains(out, "session ended") {
		t.Errorf("the client ended its session:\n%s", out)
	}
}

// transferThroughMoves echoes size random bytes through conn while the client is
// moved to each edge of moves in turn, and compares hashes.
func (w *fleetWorld) transferThroughMoves(t *testing.T, conn net.Conn, size int64, moves []int) {
	t.Helper()
	app := &meter{}
	sent, received := sha256.New(), sha256.New()
	marks := make([]int64, len(moves))
	for i := range moves {
		marks[i] = size * int64(i+1) / int64(len(moves)+1)
	}
	sender := newStops(t, marks, size/20)
	wrote, read := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(wrote)
		if err := sender.writeRandom(io.MultiWriter(conn, sent), size); err != nil {
			app.fail(fmt.Errorf("write: %w", err))
		}
	}()
	go func() {
		defer close(read)
		if _, err := io.CopyN(io.MultiWriter(received, meterWriter{app}), conn, size); err != nil {
			app.fail(fmt.Errorf("read: %w", err))
		}
	}()
	began := time.Now()
	for i, to := range moves {
		app.waitBytes(t, marks[i])
		from := w.open
		cut := w.moveTo(t, app, to, sender, i)
		seen, _ := app.read()
		sender.moved(i)
		app.waitBytes(t, seen+1)
		_, next := app.stall(cut, time.Now())
		t.Logf("carrier through %s cut → bytes through %s after %v", fleetEdges[from], fleetEdges[to], next.Sub(cut).Round(time.Millisecond))
	}
	app.waitBytes(t, size)
	<-wrote
	<-read
	if _, err := app.read(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sent.Sum(nil), received.Sum(nil)) {
		t.Fatal("the SHA-256 of the bytes read differs from that of the bytes written")
	}
	t.Logf("%d MiB carried byte-exact through %d moves between edges in %v", size>>20, len(moves), time.Since(began).Round(100*time.Millisecond))
}

// chatThroughMoves sends count numbered messages through conn and reads them back,
// while the client is moved to each edge of moves in turn.
func (w *fleetWorld) chatThroughMoves(t *testing.T, conn net.Conn, count int, moves []int) {
	t.Helper()
	chat, app := newMessenger(count), &meter{}
	marks := make([]int64, len(moves))
	for i := range moves {
		marks[i] = int64(count * (i + 1) / (len(moves) + 1))
	}
	sender := newStops(t, marks, int64(count/20))
	go chat.send(conn, app, sender)
	done := make(chan struct{})
	go func() { defer close(done); chat.receive(conn, app) }()
	for i, to := range moves {
		app.waitFor(t, fmt.Sprintf("%d messages back", marks[i]), func() bool { return chat.delivered() >= marks[i] })
		w.moveTo(t, app, to, sender, i)
		sender.moved(i)
	}
	app.waitFor(t, "every message back", func() bool { return chat.delivered() == int64(count) })
	<-done
	if _, err := app.read(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages each way, none lost, duplicated or reordered, through %d moves between edges", count, len(moves))
}

// recordHello opens a session at edge e's shared endpoint, as a client behind the
// shared address would, and returns its client hello.
func (w *fleetWorld) recordHello(t *testing.T, e *fleetEdge) []byte {
	t.Helper()
	c, err := net.Dial("tcp", e.shared)
	if err != nil {
		t.Fatal(err)
	}
	conn := &firstWrite{Conn: c}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := session.Client(ctx, conn, &session.ClientConfig{GatewayKey: e.line.Key, Secret: e.line.Secret, Endpoint: w.shared})
	if err != nil {
		t.Fatalf("a session at %s's shared endpoint: %v", e.name, err)
	}
	s.Close()
	return conn.first
}

// firstWrite keeps a copy of the first write: the client hello, sent in one.
type firstWrite struct {
	net.Conn
	first []byte
}

func (c *firstWrite) Write(p []byte) (int, error) {
	if c.first == nil {
		c.first = bytes.Clone(p)
	}
	return c.Conn.Write(p)
}

// reaction sends data to addr and returns what came back before the gateway closed
// the connection, and how it ended (nil for a close).
func reaction(addr string, data []byte) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write(data); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	return io.ReadAll(c)
}

// throughRedisOutage kills Redis under the client's session and starts it again,
// empty. The session goes on; a new session is refused as garbage is; the client's
// carrier, cut during the outage, cannot resume until Redis is back, and then does,
// with nothing lost.
func (w *fleetWorld) throughRedisOutage(t *testing.T) {
	t.Helper()
	conn := socks5Connect(t, w.socks, "echo", 443)
	defer conn.Close()
	chat, app := newMessenger(3000), &meter{}
	// The chat waits at 600 messages until every edge has seen Redis go, so that it
	// still flows then.
	sender := newStops(t, []int64{500}, 100)
	go chat.send(conn, app, sender)
	done := make(chan struct{})
	go func() { defer close(done); chat.receive(conn, app) }()
	app.waitFor(t, "the first messages back", func() bool { return chat.delivered() >= 500 })

	lines := func(e *fleetEdge, s string) int { return strings.Count(e.proc.out.String(), s) }
	before := make([]int, len(w.edges))
	for i, e := range w.edges {
		before[i] = lines(e, "fleet: Redis unreachable")
	}
	w.redis.Kill()
	killed := time.Now()
	for i, e := range w.edges {
		e.proc.await(t, e.name+" seeing Redis gone", func() error {
			if lines(e, "fleet: Redis unreachable") == before[i] {
				return errors.New("not yet")
			}
			return nil
		})
	}
	t.Logf("Redis killed → every edge said so within %v", time.Since(killed).Round(time.Millisecond))
	sender.pass(0)
	for _, e := range w.edges {
		e.wantMetric(t, "umbrella_fleet_redis_up", func(v float64) bool { return v == 0 }, "0 while Redis is down")
	}
	got := chat.delivered()
	app.waitFor(t, "messages flowing with Redis down", func() bool { return chat.delivered() >= got+200 })

	open := w.edges[w.open]
	began := time.Now()
	if err := w.newSession(open, open.line.Secret); !errors.Is(err, session.ErrNoAnswer) {
		t.Fatalf("a new session at %s with Redis down: %v; want ErrNoAnswer, what garbage gets", open.name, err)
	}
	t.Logf("a new hello with Redis down: no answer, the connection closed after %v; the hellos waited %s s in all (%s hellos)",
		time.Since(began).Round(time.Millisecond), open.metric(t, "umbrella_fleet_replay_wait_seconds_sum"),
		open.metric(t, "umbrella_fleet_replay_wait_seconds_count"))

	open.wantMetric(t, `umbrella_fleet_replay_checks_total{result="unchecked"}`, func(v float64) bool { return v > 0 },
		"the refused hello counted")

	failed := strings.Count(w.client.out.String(), "bridge failed")
	resumed := w.resumedThrough(w.open)
	w.cut(t, w.open)
	app.waitFor(t, "the client's resume refused while Redis is down", func() bool {
		return strings.Count(w.client.out.String(), "bridge failed") > failed
	})
	if err := w.redis.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	app.waitFor(t, "the session resumed after Redis came back", func() bool { return w.resumedThrough(w.open) > resumed })
	t.Logf("Redis back (empty) → the session resumed after %v", time.Since(restarted).Round(time.Millisecond))
	// The resume passed the shared replay check at that edge: it had found Redis again,
	// and the new epoch that says Redis lost its data.
	for series, want := range map[string]func(float64) bool{
		"umbrella_fleet_redis_up":                 func(v float64) bool { return v == 1 },
		"umbrella_fleet_redis_outages_total":      func(v float64) bool { return v >= 1 },
		"umbrella_fleet_redis_down_seconds_total": func(v float64) bool { return v > 0 },
		"umbrella_fleet_redis_data_losses_total":  func(v float64) bool { return v >= 1 },
	} {
		open.wantMetric(t, series, want, "after the outage")
	}
	app.waitFor(t, "every message back", func() bool { return chat.delivered() == int64(chat.count) })
	<-done
	if _, err := app.read(); err != nil {
		t.Fatal(err)
	}
	w.checkSessionKept(t)
}
