package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/probes/censor"
)

// Zero loss (issue 4): the real gateway, censor and client binaries; an app behind the
// client's SOCKS5 port keeps one connection to a service (an echo, or one that pushes)
// while the censor cuts the transport in use, silently, with resets and with a freeze.
// The connection never closes and every byte and message arrives once, in order.

// failoverTransports are the gateway's listeners, in the client's bridge order. meek is
// last: it polls over HTTP, the slowest carrier of a bulk transfer.
var failoverTransports = []string{"tcp", "utls", "obfs4", "webtunnel", "websocket", "pt", "meek"}

// failoverGuard bounds each wait of these tests: a silent kill is only noticed by the
// client's watchdog (up to 20 s on a slow machine), then the bridges are raced. It only
// prevents hangs; no time is asserted.
const failoverGuard = 90 * time.Second

// censoredWorld is the echo service, the gateway, the censor with one route in front of
// each of the gateway's listeners, and a client given every bridge line, which lead
// through the censor.
type censoredWorld struct {
	client *process
	admin  string // the censor's admin API
	socks  string // the client's SOCKS5 port
}

func startCensoredWorld(t *testing.T, bin string, services map[string]string) *censoredWorld {
	t.Helper()
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	var listeners strings.Builder
	var censorArgs []string
	for _, name := range failoverTransports {
		args, err := lab.ListenerArgs(name)
		if err != nil {
			t.Fatal(err) // CI installs every program a transport needs
		}
		listen, route := freePort(t), freePort(t)
		// The bridge line names the censor's route: the client dials it, and its hello
		// is bound to that address.
		fmt.Fprintf(&listeners, "  - {transport: %s, listen: %s, public: %s, args: {", name, listen, route)
		for _, k := range sortedKeys(args) {
			fmt.Fprintf(&listeners, "%s: %q, ", k, args[k])
		}
		listeners.WriteString("}}\n")
		censorArgs = append(censorArgs, "--route", strings.Join([]string{name, name, "tcp", route, listen}, ","))
	}
	var servicesYAML strings.Builder
	for _, name := range sortedKeys(services) {
		fmt.Fprintf(&servicesYAML, "  %s: %s\n", name, services[name])
	}
	gatewayYAML := fmt.Sprintf("state_dir: %s\nlisteners:\n%sservices:\n%slog: {level: info}\n",
		stateDir, listeners.String(), servicesYAML.String())
	gatewayConfig := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(gatewayConfig, []byte(gatewayYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := start(t, bin, "gateway", "--config", gatewayConfig)
	var bridges []byte
	gw.await(t, "the gateway's bridge lines", func() (err error) {
		bridges, err = os.ReadFile(filepath.Join(stateDir, bridgesFile))
		return err
	})

	w := &censoredWorld{admin: freePort(t), socks: freePort(t)}
	cens := start(t, bin, append(append([]string{"censor"}, censorArgs...), "--admin", w.admin)...)
	cens.awaitPort(t, "the censor's admin API", w.admin)

	var clientYAML strings.Builder
	clientYAML.WriteString("bridges:\n")
	for _, line := range strings.Split(strings.TrimSpace(string(bridges)), "\n") {
		fmt.Fprintf(&clientYAML, "  - %s\n", line)
	}
	fmt.Fprintf(&clientYAML, "socks: %s\nlog: {level: debug}\n", w.socks)
	clientConfig := filepath.Join(dir, "client.yaml")
	if err := os.WriteFile(clientConfig, []byte(clientYAML.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	w.client = start(t, bin, "client", "--config", clientConfig)
	w.client.awaitPort(t, "the client's SOCKS5 port", w.socks)
	w.client.await(t, "the client's first carrier", func() error {
		if w.active() == "" {
			return errors.New("no active transport in its log yet")
		}
		return nil
	})
	return w
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

const activeLine = "active transport: "

// active is the transport the client last said carries its session.
func (w *censoredWorld) active() string {
	out := w.client.out.String()
	i := strings.LastIndex(out, activeLine)
	if i < 0 {
		return ""
	}
	name, _, _ := strings.Cut(out[i+len(activeLine):], " ")
	return name
}

// carriers counts the carriers the client has announced.
func (w *censoredWorld) carriers() int {
	return strings.Count(w.client.out.String(), activeLine)
}

// A cut is a kill the censor made.
type cut struct {
	mode     censor.KillMode
	victim   string // the transport killed
	flows    int
	carriers int // the carriers the client had announced before
	at       time.Time
}

// cut has the censor cut the active transport's flows with mode.
func (w *censoredWorld) cut(t *testing.T, mode censor.KillMode) cut {
	t.Helper()
	c := cut{mode: mode, victim: w.active(), carriers: w.carriers(), at: time.Now()}
	resp, err := http.Post(fmt.Sprintf("http://%s/kill?transport=%s&mode=%s", w.admin, c.victim, mode), "", nil)
	if err != nil {
		t.Fatalf("censor /kill: %v", err)
	}
	var answer struct{ Killed int }
	err = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if err != nil || answer.Killed == 0 {
		t.Fatalf("censor /kill transport=%s mode=%s: %+v, %v; want the active carrier's flow cut", c.victim, mode, answer, err)
	}
	c.flows = answer.Killed
	return c
}

// replaced waits until the client announces the carrier that replaced c's victim.
func (w *censoredWorld) replaced(t *testing.T, c cut, app *meter) {
	t.Helper()
	app.waitFor(t, fmt.Sprintf("a carrier to replace %s after the %s kill", c.victim, c.mode), func() bool {
		return w.carriers() > c.carriers
	})
	t.Logf("%s kill of %s (%d flows): the client moved to %s", c.mode, c.victim, c.flows, w.active())
}

// checkSessionKept fails the test if the client ended its session: the app's
// connections would have closed with it.
func (w *censoredWorld) checkSessionKept(t *testing.T) {
	t.Helper()
	if out := w.client.out.String(); strings.Contains(out, "session ended") {
		t.Errorf("the client ended its session during the transfer:\n%s", out)
	}
}

// meter is what the app has read back, and when, so the test can wait for data to flow
// and log how long a kill held it up.
type meter struct {
	mu    sync.Mutex
	total int64
	reads []readMark
	err   error // why the app's reading or writing stopped early
}

type readMark struct {
	at    time.Time
	total int64
}

func (m *meter) add(n int) {
	m.mu.Lock()
	m.total += int64(n)
	m.reads = append(m.reads, readMark{time.Now(), m.total})
	m.mu.Unlock()
}

func (m *meter) fail(err error) {
	m.mu.Lock()
	if m.err == nil {
		m.err = err
	}
	m.mu.Unlock()
}

func (m *meter) read() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total, m.err
}

// waitFor polls cond until it holds; the app failing or failoverGuard passing fails the test.
func (m *meter) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(failoverGuard); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := m.read(); err != nil {
			t.Fatalf("waiting for %s: the app's connection failed: %v", what, err)
		}
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// waitBytes waits until the app has read n bytes.
func (m *meter) waitBytes(t *testing.T, n int64) {
	t.Helper()
	m.waitFor(t, fmt.Sprintf("%d bytes read back", n), func() bool { got, _ := m.read(); return got >= n })
}

// stall returns the longest pause in the app's reads after kill that ended by until,
// and the time of the read that ended it: the first byte the new carrier delivered.
func (m *meter) stall(kill, until time.Time) (gap time.Duration, next time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := kill
	for _, r := range m.reads {
		if !r.at.After(kill) || r.at.After(until) {
			continue
		}
		if d := r.at.Sub(prev); d > gap {
			gap, next = d, r.at
		}
		prev = r.at
	}
	return gap, next
}

// killDuring kills the active transport once per mode, each when the app has read the
// next of marks bytes (or messages, as counted by progress), lets the sender past its
// stops there, and logs each kill's delay to the next byte.
func (w *censoredWorld) killDuring(t *testing.T, app *meter, progress func() int64, marks []int64, modes []censor.KillMode, sender *stops) {
	t.Helper()
	var kills []time.Time
	for i, mode := range modes {
		app.waitFor(t, fmt.Sprintf("progress to %d before the %s kill", marks[i], mode), func() bool { return progress() >= marks[i] })
		c := w.cut(t, mode)
		sender.cut(i)
		w.replaced(t, c, app)
		kills = append(kills, c.at)
		seen, _ := app.read()
		sender.moved(i)
		app.waitBytes(t, seen+1) // the new carrier delivers
	}
	kills = append(kills, time.Now())
	for i, mode := range modes {
		gap, next := app.stall(kills[i], kills[i+1])
		t.Logf("%s kill → next byte after the stall: %v (the app's reads paused %v)",
			mode, next.Sub(kills[i]).Round(time.Millisecond), gap.Round(time.Millisecond))
	}
}

var killModes = []censor.KillMode{censor.KillSilent, censor.KillReset, censor.KillFreeze}

func TestZeroLossFailover(t *testing.T) {
	bin := buildBinary(t)
	pushed := make(chan net.Conn, 1)
	w := startCensoredWorld(t, bin, map[string]string{"echo": startEcho(t), "push": startPush(t, pushed)})
	t.Logf("first carrier: %s", w.active())

	// A messenger that only receives sends nothing the gateway must acknowledge, so
	// its watchdog has nothing to time; a silent kill is noticed when the session's
	// keepalive ping goes unanswered.
	t.Run("message to an idle client", func(t *testing.T) {
		conn := socks5Connect(t, w.socks, "push", 443)
		defer conn.Close()
		backend := waitConn(t, pushed)
		defer backend.Close()
		app := &meter{}
		got := make([]byte, 64)
		deliver := func(msg string) time.Time {
			t.Helper()
			if _, err := backend.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(failoverGuard))
			if _, err := io.ReadFull(conn, got[:len(msg)]); err != nil || string(got[:len(msg)]) != msg {
				t.Fatalf("the app read %q, %v; want %q", got[:len(msg)], err, msg)
			}
			return time.Now()
		}
		deliver("first message")
		// Let the acknowledgements settle: the client is idle, as a messenger waiting for
		// the next message is.
		time.Sleep(time.Second)
		c := w.cut(t, censor.KillSilent)
		arrived := deliver("second message")
		w.replaced(t, c, app)
		t.Logf("silent kill while idle → the message pushed at once arrived after %v", arrived.Sub(c.at).Round(time.Millisecond))
		w.checkSessionKept(t)
	})

	t.Run("50 MB echo", func(t *testing.T) {
		conn := socks5Connect(t, w.socks, "echo", 443)
		defer conn.Close()
		w.transferThroughKills(t, conn, conn, 50<<20)
	})

	// Only the gateway sends. The client has little of its own waiting for an
	// acknowledgement (its stream credit updates), so its watchdog relies on the pings
	// the session keeps sending while data arrives.
	t.Run("20 MB download", func(t *testing.T) {
		conn := socks5Connect(t, w.socks, "push", 443)
		defer conn.Close()
		backend := waitConn(t, pushed)
		defer backend.Close()
		w.transferThroughKills(t, backend, conn, 20<<20)
	})

	t.Run("10000 messages", func(t *testing.T) {
		conn := socks5Connect(t, w.socks, "echo", 443)
		defer conn.Close()
		chat := newMessenger(10000)
		app := &meter{}
		n := int64(chat.count)
		marks := []int64{n / 5, 2 * n / 5, 3 * n / 5}
		sender := newStops(t, marks, n/20)
		go chat.send(conn, app, sender)
		done := make(chan struct{})
		go func() { defer close(done); chat.receive(conn, app) }()
		began := time.Now()
		w.killDuring(t, app, chat.delivered, marks, killModes, sender)
		app.waitFor(t, "every message back", func() bool { return chat.delivered() == n })
		<-done
		if _, err := app.read(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d messages each way, none lost, duplicated or reordered through %d kills, in %v",
			n, len(killModes), time.Since(began).Round(100*time.Millisecond))
		w.checkSessionKept(t)
	})
}

// startPush runs the push service: it hands each connection to the test, which writes
// to it as a gateway pushes messages to a messenger.
func startPush(t *testing.T, conns chan<- net.Conn) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case conns <- conn:
			default:
				conn.Close()
			}
		}
	}()
	return ln.Addr().String()
}

func waitConn(t *testing.T, conns <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case conn := <-conns:
		return conn
	case <-time.After(failoverGuard):
		t.Fatal("the push service got no connection")
		return nil
	}
}

// transferThroughKills writes size random bytes to dst while the app reads them from
// src, kills the active transport once per mode on the way, and compares hashes.
func (w *censoredWorld) transferThroughKills(t *testing.T, dst io.Writer, src io.Reader, size int64) {
	t.Helper()
	app := &meter{}
	sent, received := sha256.New(), sha256.New()
	marks := []int64{size / 5, 2 * size / 5, 3 * size / 5}
	sender := newStops(t, marks, size/20)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		if err := sender.writeRandom(io.MultiWriter(dst, sent), size); err != nil {
			app.fail(fmt.Errorf("write: %w", err))
		}
	}()
	read := make(chan struct{})
	go func() {
		defer close(read)
		if _, err := io.CopyN(io.MultiWriter(received, meterWriter{app}), src, size); err != nil {
			app.fail(fmt.Errorf("read: %w", err))
		}
	}()
	began := time.Now()
	w.killDuring(t, app, func() int64 { n, _ := app.read(); return n }, marks, killModes, sender)
	app.waitBytes(t, size)
	<-wrote
	<-read
	if _, err := app.read(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sent.Sum(nil), received.Sum(nil)) {
		t.Fatal("the SHA-256 of the bytes read differs from that of the bytes written")
	}
	t.Logf("%d MiB carried byte-exact through %d kills in %v", size>>20, len(killModes), time.Since(began).Round(100*time.Millisecond))
	w.checkSessionKept(t)
}

type meterWriter struct{ m *meter }

func (w meterWriter) Write(p []byte) (int, error) { w.m.add(len(p)); return len(p), nil }

// stops holds a sender back at points of its traffic while the test acts there, so the
// traffic cannot end before the test has seen what it waits for, however the scheduler
// runs the sender and the test: under GOMAXPROCS=1 and -race a transfer once finished
// between its mark and the cut, and once between the cut and the test's reading of
// where the app stood; the wait for a byte after that never ended. Each mark has two
// stops: slack past it until the test has cut the carrier (so data flows while the
// client notices the cut), and 2·slack past it until the test has seen the session move.
type stops struct {
	at   []int64 // in the sender's units (bytes, messages), ascending
	open []chan struct{}
	once []sync.Once
}

func newStops(t *testing.T, marks []int64, slack int64) *stops {
	s := &stops{open: make([]chan struct{}, 2*len(marks)), once: make([]sync.Once, 2*len(marks))}
	for i, m := range marks {
		s.at = append(s.at, m+slack, m+2*slack)
		s.open[2*i], s.open[2*i+1] = make(chan struct{}), make(chan struct{})
	}
	t.Cleanup(func() { // a test that failed early leaves no sender waiting
		for i := range s.open {
			s.release(i)
		}
	})
	return s
}

// cut lets the sender past mark i's first stop, moved past its second, pass past both.
func (s *stops) cut(i int)   { s.release(2 * i) }
func (s *stops) moved(i int) { s.release(2*i + 1) }
func (s *stops) pass(i int)  { s.cut(i); s.moved(i) }

// release lets the sender past stop i. A nil stops has none.
func (s *stops) release(i int) {
	if s != nil {
		s.once[i].Do(func() { close(s.open[i]) })
	}
}

// hold waits at every stop at or before done that is not yet released.
func (s *stops) hold(done int64) {
	if s == nil {
		return
	}
	for i, at := range s.at {
		if at <= done {
			<-s.open[i]
		}
	}
}

// writeRandom writes size random bytes to dst, waiting at each stop.
func (s *stops) writeRandom(dst io.Writer, size int64) error {
	var done int64
	for _, at := range append(slices.Clone(s.at), size) {
		if _, err := io.CopyN(dst, rand.Reader, min(at, size)-done); err != nil {
			return err
		}
		done = min(at, size)
		s.hold(done)
	}
	return nil
}

// messenger is the messenger's traffic shape: numbered messages of 20–2000 bytes, sent
// at a chat's pace and read back one by one, each checked against what was sent.
type messenger struct {
	count int
	msgs  [][]byte // by number

	mu   sync.Mutex
	next int // number of the next message expected back
}

const (
	msgHeader  = 6 // BE32 number, BE16 payload length
	msgMinBody = 20 - msgHeader
	msgMaxBody = 2000 - msgHeader
	// A burst of msgBurst messages every msgPause keeps the chat going for the seconds
	// the kills take, instead of emptying into the buffers at once.
	msgBurst = 10
	msgPause = 5 * time.Millisecond
)

// newMessenger makes count random messages, numbered from 0.
func newMessenger(count int) *messenger {
	c := &messenger{count: count, msgs: make([][]byte, count)}
	for i := range c.msgs {
		var n [2]byte
		rand.Read(n[:])
		body := make([]byte, msgMinBody+int(binary.BigEndian.Uint16(n[:]))%(msgMaxBody-msgMinBody+1))
		rand.Read(body)
		msg := binary.BigEndian.AppendUint32(nil, uint32(i))
		msg = binary.BigEndian.AppendUint16(msg, uint16(len(body)))
		c.msgs[i] = append(msg, body...)
	}
	return c
}

func (c *messenger) send(conn net.Conn, app *meter, sender *stops) {
	for i := range c.count {
		if _, err := conn.Write(c.msgs[i]); err != nil {
			app.fail(fmt.Errorf("send message %d: %w", i, err))
			return
		}
		sender.hold(int64(i + 1))
		if i%msgBurst == msgBurst-1 {
			time.Sleep(msgPause)
		}
	}
}

// receive reads messages back until all came or one is wrong.
func (c *messenger) receive(conn net.Conn, app *meter) {
	msg := make([]byte, msgHeader+msgMaxBody)
	for i := range c.count {
		if _, err := io.ReadFull(conn, msg[:msgHeader]); err != nil {
			app.fail(fmt.Errorf("read message %d: %w", i, err))
			return
		}
		num, size := binary.BigEndian.Uint32(msg), int(binary.BigEndian.Uint16(msg[4:]))
		if num != uint32(i) {
			app.fail(fmt.Errorf("message %d came where %d was due: lost, duplicated or reordered", num, i))
			return
		}
		if size > msgMaxBody {
			app.fail(fmt.Errorf("message %d: length %d, more than any sent", i, size))
			return
		}
		if _, err := io.ReadFull(conn, msg[msgHeader:msgHeader+size]); err != nil {
			app.fail(fmt.Errorf("read message %d: %w", i, err))
			return
		}
		if !bytes.Equal(msg[:msgHeader+size], c.msgs[i]) {
			app.fail(fmt.Errorf("message %d came back changed", i))
			return
		}
		c.mu.Lock()
		c.next = i + 1
		c.mu.Unlock()
		app.add(msgHeader + size)
	}
}

// delivered is how many messages came back intact, in order.
func (c *messenger) delivered() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(c.next)
}
