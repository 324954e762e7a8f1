package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/internal/backend"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
)

// The adversary has a bridge line (it is shared, and may leak). Its session opens many
// streams to a service that sends without end, then reads nothing more from its
// carrier: it reads none of its streams and acknowledges nothing, so the gateway holds
// everything it sends it. Without a budget that is 256 KiB a stream, up to the resume
// buffer (16 MiB here) a session, for the whole resume grace if it then leaves. Beside
// it, twenty chat sessions exchange numbered messages.

const (
	hoardBudget  = 4 << 20
	hoardStreams = 24 // 6 MiB the hoarder leaves unacknowledged without a budget
	chatSessions = 20
	chatMessages = 100 // at least, each; they go on until the hoarder is dealt with
	chatSize     = 256
	slowedLog    = "session slowed: it holds more than its share of a tight memory budget"
	closedLog    = "session closed: it held the most buffered bytes when the memory budget ran out"
)

func TestHoardingSessionPaysAndChatsLoseNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	source := startService(t, backend.Source{}.Serve)
	logs := &logEvents{changed: make(chan struct{})}
	g := StartGateway(t, func(c *gateway.Config) {
		c.MemoryBudget = hoardBudget
		c.ResumeBuffer = 16 << 20
		c.Services["source"] = source
		c.Logger = slog.New(logTo{logEvents: logs})
	})
	b := g.Bridge()
	over := make(chan struct{})
	chats := startChats(ctx, t, b, over)

	h := openHoarding(ctx, t, b)
	id := h.sess.ID()
	hoarder := shortID(id[:])
	// Its streams are open, each with its relay and its backend connection, costs
	// that max_streams bounds; what the budget bounds is the data, from here on.
	base := liveHeap()
	h.start(t)
	if !logs.wait(ctx, slowedLog, hoarder) {
		t.Fatalf("the gateway did not slow the hoarding session; its memory metrics: %v", memoryMetrics(g))
	}
	// The hoarder is stuck now: the gateway sends it nothing more, and it sends nothing.
	// The heap holds no more than what the gateway counts against its budget, so the
	// budget is a bound on memory, not only on a counter.
	grew, buffered := liveHeap()-base, int64(memoryMetrics(g)["umbrella_gateway_memory_buffered_bytes"])
	if grew > buffered+heapSlack() {
		t.Errorf("the heap grew by %d bytes while the gateway counted %d buffered (allowing %d for the rest of the test): it holds what its budget does not see", grew, buffered, heapSlack())
	}
	// It leaves without a word; its session waits for a resume, its buffers with it,
	// until an operator lowers the budget (SIGHUP): the heaviest session pays.
	h.carrier.Close()
	if err := g.Reload(gateway.Policy{Secrets: []session.Secret{b.Secret}, MemoryBudget: limits.MinMemoryBudget}); err != nil {
		t.Fatal(err)
	}
	if !logs.wait(ctx, closedLog, hoarder) {
		t.Fatalf("the gateway did not close the hoarding session; its memory metrics: %v", memoryMetrics(g))
	}
	close(over)
	for i, err := range chats.wait() {
		if err != nil {
			t.Errorf("chat %d: %v", i, err)
		}
	}

	m := memoryMetrics(g)
	if peak := m["umbrella_gateway_memory_buffered_peak_bytes"]; peak > hoardBudget {
		t.Errorf("sessions buffered up to %.0f bytes, past the budget of %d", peak, hoardBudget)
	}
	if closed := m["umbrella_gateway_memory_sessions_closed_total"]; closed != 1 {
		t.Errorf("%v sessions closed for the budget, want the hoarder alone", closed)
	}
	for _, e := range logs.all() {
		if (e.msg == slowedLog || e.msg == closedLog) && e.session != hoarder {
			t.Errorf("%s (session %s), not the hoarder", e.msg, e.session)
		}
	}
}

// heapSlack is what the test process's heap may grow by beside what the gateway counts
// as buffered: the twenty chats' and both sides' records in flight, and the buffers
// that full records take while the hoarder's data moves (a writer's batch of four
// 16 KiB records is an 82 KiB buffer, and a reader keeps its buffer while reads
// return full records): 0.4 MB measured with 2 KiB records, 1.0 to 1.15 MB since
// records are 16 KiB (it failed 2 runs in 6 at 1 MiB). Under the race detector, whose
// sync.Pool drops a quarter of what is put back, the heap keeps 2.3 to 4.8 MB more in
// this test (measured); a leak of the size the budget exists for (the hoarder's 24
// streams of 256 KiB and more) still shows.
func heapSlack() int64 {
	if raceEnabled {
		return 6 << 20
	}
	return 2 << 20
}

// hoarding is the adversary's session, its carrier and its streams.
type hoarding struct {
	sess    *session.Session
	carrier *Blackhole
	streams []net.Conn
}

// openHoarding opens the hoarder's session and its streams to the source.
func openHoarding(ctx context.Context, t *testing.T, b bridge.Line) *hoarding {
	t.Helper()
	d, err := tcp.New().NewDialer(b.Addr, b.Args)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := &hoarding{carrier: &Blackhole{Conn: conn}}
	cfg := &session.ClientConfig{GatewayKey: b.Key, Secret: b.Secret, Endpoint: b.Endpoint()}
	if h.sess, err = session.Client(ctx, h.carrier, cfg); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { h.sess.Close() })
	for i := range hoardStreams {
		st, err := h.sess.OpenStream(ctx, "source")
		if err != nil {
			t.Fatalf("hoarder's stream %d: %v", i+1, err)
		}
		h.streams = append(h.streams, st)
	}
	return h
}

// start stops reading the carrier and asks each stream's source to send.
func (h *hoarding) start(t *testing.T) {
	t.Helper()
	h.carrier.Freeze()
	for _, st := range h.streams {
		if _, err := st.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
}

// chatters are chat clients exchanging numbered messages with the echo service.
type chatters struct {
	wg   sync.WaitGroup
	errs []error
}

// startChats starts chatSessions clients, each on its own session; each sends at
// least chatMessages messages, one at a time, checks every echo, and goes on until
// over is closed.
func startChats(ctx context.Context, t *testing.T, b bridge.Line, over <-chan struct{}) *chatters {
	t.Helper()
	reg, err := transports.NewRegistry(tcp.New())
	if err != nil {
		t.Fatal(err)
	}
	cs := &chatters{errs: make([]error, chatSessions)}
	ready := make(chan error, chatSessions)
	for i := range chatSessions {
		c, err := client.New(client.Config{Bridges: []bridge.Line{b}, Transports: reg, HandshakeTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs.wg.Go(func() { cs.errs[i] = chat(ctx, c, i, ready, over) })
	}
	for range chatSessions {
		if err := <-ready; err != nil {
			t.Fatalf("a chat session did not start: %v", err)
		}
	}
	return cs
}

func (cs *chatters) wait() []error {
	cs.wg.Wait()
	return cs.errs
}

// chat opens a stream to the echo service, says so on ready, and exchanges messages.
func chat(ctx context.Context, c *client.Client, id int, ready chan<- error, over <-chan struct{}) error {
	conn, err := c.Dial(ctx, Service)
	ready <- err
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	msg, got := make([]byte, chatSize), make([]byte, chatSize)
	for i := 0; ; i++ {
		if i >= chatMessages {
			select {
			case <-over:
				return nil
			default:
			}
		}
		copy(msg, bytes.Repeat([]byte{'.'}, chatSize))
		copy(msg, fmt.Sprintf("chat %02d message %06d", id, i))
		if _, err := conn.Write(msg); err != nil {
			return fmt.Errorf("send message %d: %w", i, err)
		}
		if _, err := io.ReadFull(conn, got); err != nil {
			return fmt.Errorf("echo of message %d: %w", i, err)
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("message %d came back as %.24q", i, got)
		}
	}
}

// startService serves a backend on a loopback port for the test.
func startService(t *testing.T, serve func(context.Context, net.Listener) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ClientHost, "0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// liveHeap is the heap's live bytes after two collections (the second empties the
// pools' victim caches, which the first only moves there).
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// logEvents is a slog handler that keeps the gateway's warnings, with the session each
// names, for a test to wait on.
type logEvents struct {
	mu      sync.Mutex
	events  []logEvent
	changed chan struct{} // closed and replaced at each event
}

type logEvent struct{ msg, session string }

// logTo is the handler of one logger, with the attributes its With calls added.
type logTo struct {
	*logEvents
	attrs []slog.Attr
}

func (h logTo) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h logTo) WithGroup(string) slog.Handler                { return h }

func (h logTo) WithAttrs(as []slog.Attr) slog.Handler {
	return logTo{h.logEvents, append(slices.Clip(h.attrs), as...)}
}

func (h logTo) Handle(_ context.Context, r slog.Record) error {
	e := logEvent{msg: r.Message}
	note := func(a slog.Attr) bool {
		if a.Key == "session" {
			e.session = a.Value.String()
		}
		return true
	}
	for _, a := range h.attrs {
		note(a)
	}
	r.Attrs(note)
	h.mu.Lock()
	h.events = append(h.events, e)
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
	return nil
}

func (h *logEvents) all() []logEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// wait waits until msg has been logged for session, or ctx ends (false).
func (h *logEvents) wait(ctx context.Context, msg, session string) bool {
	for {
		h.mu.Lock()
		seen := slices.Contains(h.events, logEvent{msg, session})
		changed := h.changed
		h.mu.Unlock()
		if seen {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// shortID is how the gateway's logs name a session.
func shortID(b []byte) string { return fmt.Sprintf("%x", b[:4]) }

// memoryMetrics scrapes the gateway's memory series from its /metrics.
func memoryMetrics(g *Gateway) map[string]float64 {
	rec := httptest.NewRecorder()
	g.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m := map[string]float64{}
	for line := range strings.Lines(rec.Body.String()) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || !strings.HasPrefix(name, "umbrella_gateway_memory_") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	return m
}
