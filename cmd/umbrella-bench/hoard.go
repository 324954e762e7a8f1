package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/internal/lab"
	"github.com/umbrella-edge/edge/session"
)

// chatBesideHoardTarget: a chat message's round trip while sessions try to take the
// gateway's memory (issue 10).
const chatBesideHoardTarget = 50 * time.Millisecond

// The attack: sessions of one (shared) bridge line each open streams, half to echo with
// hoardEchoBytes they never read back, half asking bulk for an endless download, then
// stop reading their carrier, so that the gateway holds what it sends them. Beside
// them hoardChats sessions send numbered chat messages, timed.
const (
	hoardEchoBytes = 64 << 10
	hoardChats     = 20
	hoardChatSize  = 256
	hoardHold      = 5 * time.Second // the attack, held after set-up, chats timed throughout
	hoardBudget    = 8 << 20
)

// hoardShape is one attack: so many sessions of so many streams each.
type hoardShape struct{ sessions, streams int }

var hoardShapes = []hoardShape{
	{1, 256}, // issue 10's case: one session, 256 streams nobody reads
	{4, 64},  // several sessions, each within the default burst of opens
}

// hoardCases are the gateways the attack meets: as before issue 10 (no memory budget,
// opens not rate-limited), and with a small budget and the default open limits.
var hoardCases = []struct {
	name   string
	limits config.Limits
}{
	{"no budget", config.Limits{MemoryBudget: 1 << 40, StreamOpenBurst: 1 << 10, StreamOpenRate: 1 << 10}},
	{fmt.Sprintf("memory_budget %d MiB", hoardBudget>>20), config.Limits{MemoryBudget: hoardBudget}},
}

func measureHoarding(ctx context.Context, b *bench) ([]row, error) {
	var rows []row
	for _, shape := range hoardShapes {
		for _, hc := range hoardCases {
			hc.limits.HandshakeTimeout = 10 * time.Second
			r, err := b.withChildLimits(ctx, hc.limits, func(g *childGateway) ([]row, error) {
				return hoardAgainst(ctx, b, g, "tcp, child gateway, "+hc.name, shape)
			})
			rows = append(rows, r...)
			if err != nil {
				return rows, fmt.Errorf("%s: %w", hc.name, err)
			}
		}
	}
	return rows, nil
}

// hoardAgainst runs the attack against g beside the chats, and reports the chats'
// round trips and what the attack left in g's memory.
func hoardAgainst(ctx context.Context, b *bench, g *childGateway, path string, shape hoardShape) ([]row, error) {
	p := b.progress
	h, err := newHandshaker(b.registry, g.bridge)
	if err != nil {
		return nil, err
	}
	chats, err := openMany(ctx, p.counter("chat sessions", hoardChats), hoardChats, func(ctx context.Context, _ int) (io.Closer, error) {
		return h.open(ctx)
	})
	defer closeAll(chats)
	if err != nil {
		return nil, err
	}
	base, err := settle(ctx, p, g)
	if err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	timed := startChatting(ctx, chats, stop)
	var opened atomic.Int64
	hoarders, err := openMany(ctx, p.counter("hoarding sessions", shape.sessions), shape.sessions, func(ctx context.Context, _ int) (io.Closer, error) {
		return startHoarder(ctx, h, shape.streams, &opened)
	})
	defer closeAll(hoarders)
	if err != nil {
		close(stop)
		timed()
		return nil, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(hoardHold):
	}
	pinned, err := settle(ctx, p, g)
	close(stop)
	ls, chatErr := timed()
	if err != nil {
		return nil, err
	}
	if chatErr != nil {
		return nil, fmt.Errorf("a chat beside the hoarders: %w", chatErr)
	}
	m, err := g.scrape(ctx)
	if err != nil {
		return nil, err
	}
	how := fmt.Sprintf("%d session(s) × %d streams (half echo with %d KiB unread, half endless downloads; %d opened), then reading nothing; "+
		"buffered peak %.1f MiB, sessions slowed %.0f times, closed %.0f",
		shape.sessions, shape.streams, hoardEchoBytes>>10, opened.Load(), m["umbrella_gateway_memory_buffered_peak_bytes"]/(1<<20),
		m["umbrella_gateway_memory_sessions_slowed_total"], m["umbrella_gateway_memory_sessions_closed_total"])
	p.say("  %s: chats %s; heap pinned %.1f MiB", path, ls.p50p99(), (pinned.heap-base.heap)/(1<<20))
	return []row{
		{measure: fmt.Sprintf("Gateway heap pinned by %d hoarding session(s)", shape.sessions), path: path,
			result: fmt.Sprintf("%.1f MiB", (pinned.heap-base.heap)/(1<<20)), how: how + "; heap in use after a GC, over the gateway with the chats alone"},
		{measure: fmt.Sprintf("Chat round trip beside %d hoarding session(s)", shape.sessions), path: path, result: ls.p50p99(),
			target: "p99 < " + ms(chatBesideHoardTarget), met: targetMet(ls.percentile(99) < chatBesideHoardTarget),
			how: fmt.Sprintf("%d messages of %d bytes from %d chat sessions, one at a time each, during the attack", len(ls), hoardChatSize, hoardChats)},
	}, nil
}

// startChatting starts each chat session sending numbered messages to echo until stop
// is closed; wait returns the round trips, and the first lost or mangled message.
func startChatting(ctx context.Context, chats []io.Closer, stop <-chan struct{}) (wait func() (latencies, error)) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		all   latencies
		first error
	)
	for i, c := range chats {
		wg.Go(func() {
			ls, err := chat(ctx, c.(*session.Session), i, stop)
			mu.Lock()
			all = append(all, ls...)
			if first == nil {
				first = err
			}
			mu.Unlock()
		})
	}
	return func() (latencies, error) {
		wg.Wait()
		return all, first
	}
}

func chat(ctx context.Context, sess *session.Session, id int, stop <-chan struct{}) (latencies, error) {
	conn, err := sess.OpenStream(ctx, serviceEcho)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var ls latencies
	msg, got := make([]byte, hoardChatSize), make([]byte, hoardChatSize)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return ls, nil
		default:
		}
		copy(msg, fmt.Sprintf("chat %02d message %06d %s", id, i, bytes.Repeat([]byte{'.'}, hoardChatSize)))
		// A generous deadline only keeps a broken path from hanging the run.
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		t0 := time.Now()
		if _, err := conn.Write(msg); err != nil {
			return ls, err
		}
		if _, err := io.ReadFull(conn, got); err != nil {
			return ls, err
		}
		ls = append(ls, time.Since(t0))
		if !bytes.Equal(got, msg) {
			return ls, fmt.Errorf("chat %d message %d came back as %.24q", id, i, got)
		}
	}
}

// startHoarder opens one hoarding session and up to streams streams (those the
// gateway lets it open, counted in opened), and stops reading its carrier.
func startHoarder(ctx context.Context, h *handshaker, streams int, opened *atomic.Int64) (io.Closer, error) {
	conn, err := h.dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	carrier := &lab.Blackhole{Conn: conn}
	sess, err := session.Client(ctx, carrier, &session.ClientConfig{
		GatewayKey: h.bridge.Key, Secret: h.bridge.Secret, Endpoint: h.bridge.Endpoint(),
		ResumeBuffer: 64 << 20, // what it sends and never sees acknowledged must not hold it back
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	var echoes, downloads []net.Conn
	for i := range streams {
		service, list := serviceEcho, &echoes
		if i%2 == 1 {
			service, list = serviceBulk, &downloads
		}
		st, err := sess.OpenStream(ctx, service)
		if errors.Is(err, session.ErrStreamLimit) {
			continue // refused: the gateway's business, not the bench's
		}
		if err != nil {
			sess.Close()
			return nil, fmt.Errorf("hoarder's stream %d: %w", i+1, err)
		}
		*list = append(*list, st)
		opened.Add(1)
	}
	carrier.Freeze()
	data := make([]byte, hoardEchoBytes)
	for _, st := range echoes {
		st.Write(data) // within the stream's first window: never waits
	}
	var req [9]byte
	req[0] = bulkDown
	binary.BigEndian.PutUint64(req[1:], 1<<40)
	for _, st := range downloads {
		st.Write(req[:])
	}
	return sess, nil
}
