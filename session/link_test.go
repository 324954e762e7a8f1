package session

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProgressShowsAOneDirectionFreeze freezes one direction of the carrier after
// 16 KiB, silently, while the client streams into an echo: the client's Progress must
// show data waiting and a ping unanswered, its buffer must stop at its bound, and a
// resume over a good carrier (replacing the half-dead one) must deliver everything.
// The client stops writing at whichever bound comes first: its buffer's, or the
// echo stream's credit, when the gateway's acks for most of a window got through
// before the freeze and the echo had not read (or written) enough to free more.
func TestProgressShowsAOneDirectionFreeze(t *testing.T) {
	const limit = 64 << 10
	const size = 1 << 20
	cases := []struct {
		name          string
		freezeGateway bool // freeze gateway-to-client (as in Russia), else client-to-gateway
	}{
		{"gateway to client frozen", true},
		{"client to gateway frozen", false},
	}
	for _, c := range carriers {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				checkGoroutines(t)
				cc, sc := resumableConfigs()
				cc.ResumeBuffer, sc.ResumeBuffer = limit, limit
				cconn, sconn := c.pair(t)
				var fz *freezeConn
				if tc.freezeGateway {
					fz = &freezeConn{Conn: sconn, limit: 16 << 10}
					sconn = fz
				} else {
					fz = &freezeConn{Conn: cconn, limit: 16 << 10}
					cconn = fz
				}
				client, server := pairUp(t, cconn, sconn, cc, sc)
				go serveTest(server)
				clientCarrier, gatewayCarrier := client.CarrierDone(), server.CarrierDone()
				errc := make(chan error, 1)
				go func() { errc <- echoOnce(client, size) }()

				waitFor(t, "the client to see the freeze", func() bool {
					p := client.Progress()
					if p.Unacked > limit {
						t.Fatalf("%d bytes unacknowledged, above the %d-byte bound", p.Unacked, limit)
					}
					// Full: no room left for a stream frame's header and a byte.
					full := p.Unacked > limit-muxHeaderSize-1
					return fz.frozen() && p.PingOutstanding && (full || outOfCredit(client))
				})
				if tc.freezeGateway {
					// The gateway has all of it and said so; the client never heard.
					waitFor(t, "the gateway to acknowledge all it received", func() bool {
						recvd, _ := server.link.offsets()
						_, written := client.link.offsets()
						server.link.mu.Lock()
						defer server.link.mu.Unlock()
						return recvd == written && server.link.cur != nil && server.link.cur.ackSent == recvd
					})
				}
				p := client.Progress()
				full := p.Unacked > limit-muxHeaderSize-1
				if !p.PingOutstanding || p.Unacked == 0 || p.Unacked > limit || (!full && !outOfCredit(client)) || p.LastProgress.IsZero() {
					t.Errorf("Progress() = %+v, want a full buffer (or a stream out of credit) and a ping outstanding", p)
				}
				client.link.mu.Lock()
				held := len(client.link.buf.chunks) * chunkSize
				client.link.mu.Unlock()
				if held > limit+chunkSize {
					t.Errorf("the client's buffer holds %d bytes of chunks for a %d-byte bound", held, limit)
				}

				c2, s2 := c.pair(t)
				if cerr, serr := resumeOnce(t, client, c2, s2, cc, sc); cerr != nil || serr != nil {
					t.Fatalf("resume: client error %v, gateway error %v", cerr, serr)
				}
				for who, ch := range map[string]<-chan struct{}{"client": clientCarrier, "gateway": gatewayCarrier} {
					select {
					case <-ch:
					default:
						t.Errorf("the %s's frozen carrier is still attached after the resume", who)
					}
				}
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// outOfCredit reports whether every stream of s has sent all the peer allowed.
func outOfCredit(s *Session) bool {
	m := s.mux
	m.mu.Lock()
	streams := slices.Collect(maps.Values(m.streams))
	m.mu.Unlock()
	for _, st := range streams {
		st.mu.Lock()
		blocked := st.sent >= st.sendLimit
		st.mu.Unlock()
		if !blocked {
			return false
		}
	}
	return len(streams) > 0
}

// TestDetachedGatewaySessionWaitsForTheGracePeriod: a gateway session whose carrier
// dies keeps its streams, shows as detached, and ends when the grace period passes.
func TestDetachedGatewaySessionWaitsForTheGracePeriod(t *testing.T) {
	checkGoroutines(t)
	cc, sc := resumableConfigs()
	sc.ResumeGrace = time.Second
	cconn, sconn := carriers[1].pair(t)
	client, server := pairUp(t, cconn, sconn, cc, sc)
	go serveTest(server)
	conn, err := client.OpenStream(context.Background(), "hold")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gatewayCarrier := server.CarrierDone()
	cut := time.Now() // the grace period starts after this
	cconn.Close()     // the network goes; the client's session would resume, if asked
	<-gatewayCarrier
	select {
	case <-server.Done():
		// Only an end well inside the grace period is wrong; a machine too busy to
		// get here in time proves nothing either way.
		if time.Since(cut) < sc.ResumeGrace {
			t.Fatal("the gateway session ended with its carrier, before its grace period")
		}
	default:
		if n := sc.Sessions.Detached(); n != 1 {
			t.Errorf("Detached() = %d with the carrier gone, want 1", n)
		}
		if n := server.NumStreams(); n != 1 {
			t.Errorf("detached gateway session has %d streams, want its 1", n)
		}
	}
	waitDone(t, "gateway", server)
	if !errors.Is(server.Err(), ErrClosed) {
		t.Errorf("gateway session ended with %v, want ErrClosed (grace period over)", server.Err())
	}
	if n := sc.Sessions.Len(); n != 0 {
		t.Errorf("Len() = %d after the session ended, want 0", n)
	}
	if _, err := sc.Store.Get(context.Background(), server.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("store still has the ended session: %v", err)
	}
}

// TestCloseTellsThePeer: Close on either side ends both sessions at once, even
// resumable ones that would otherwise wait for a resume.
func TestCloseTellsThePeer(t *testing.T) {
	for _, closer := range []string{"client", "gateway"} {
		for _, c := range carriers {
			t.Run(c.name+"/"+closer, func(t *testing.T) {
				checkGoroutines(t)
				cc, sc := resumableConfigs()
				cconn, sconn := c.pair(t)
				client, server := pairUp(t, cconn, sconn, cc, sc)
				go serveTest(server)
				if err := echoOnce(client, 1000); err != nil {
					t.Fatal(err)
				}
				closing, other := client, server
				if closer == "gateway" {
					closing, other = server, client
				}
				closing.Close()
				waitDone(t, "the other side's", other)
				if !errors.Is(other.Err(), ErrClosed) {
					t.Errorf("the other side ended with %v, want ErrClosed", other.Err())
				}
				if n := sc.Sessions.Len(); n != 0 {
					t.Errorf("registry holds %d sessions after Close, want 0", n)
				}
			})
		}
	}
}

// TestDrainEndsDetachedSessions: a draining gateway ends detached sessions at once,
// and ends attached ones when their carrier dies instead of waiting.
func TestDrainEndsDetachedSessions(t *testing.T) {
	checkGoroutines(t)
	cc, sc := resumableConfigs()
	var servers []*Session
	var conns []net.Conn
	for range 2 {
		cconn, sconn := carriers[1].pair(t)
		_, server := pairUp(t, cconn, sconn, cc, sc)
		servers, conns = append(servers, server), append(conns, cconn)
	}
	gatewayCarrier := servers[0].CarrierDone()
	conns[0].Close()
	<-gatewayCarrier
	sc.Sessions.Drain()
	waitDone(t, "detached gateway", servers[0])
	select {
	case <-servers[1].Done():
		t.Fatal("Drain ended a session that still had its carrier")
	default:
	}
	conns[1].Close()
	waitDone(t, "gateway whose carrier died while draining", servers[1])
}

// TestTamperedRecordDropsOnlyTheCarrier: a record that fails authentication is what
// a censor injecting bytes produces; it costs a resumable session its carrier, not
// its life, and the session resumes.
func TestTamperedRecordDropsOnlyTheCarrier(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			checkGoroutines(t)
			cc, sc := resumableConfigs()
			cconn, sconn := c.pair(t)
			fc := &flipConn{Conn: sconn}
			client, server := pairUp(t, cconn, fc, cc, sc)
			go serveTest(server)
			carrierDone := client.CarrierDone()
			fc.armed.Store(true)
			errc := make(chan error, 1)
			go func() { errc <- echoOnce(client, 1000) }()
			<-carrierDone
			c2, s2 := c.pair(t)
			if cerr, serr := resumeOnce(t, client, c2, s2, cc, sc); cerr != nil || serr != nil {
				t.Fatalf("resume: client error %v, gateway error %v", cerr, serr)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSessionWithoutTicketEndsWithItsCarrier: a gateway that keeps no sessions issues
// no ticket, so both ends end with the carrier, and Resume says the session is gone.
func TestSessionWithoutTicketEndsWithItsCarrier(t *testing.T) {
	checkGoroutines(t)
	cc, sc := testConfigs()
	cconn, sconn := carriers[1].pair(t)
	client, server := pairUp(t, cconn, sconn, cc, sc)
	cconn.Close()
	waitDone(t, "client", client)
	waitDone(t, "gateway", server)
	c2, s2 := carriers[1].pair(t)
	defer c2.Close()
	defer s2.Close()
	if err := client.Resume(context.Background(), c2, cc); !errors.Is(err, ErrClosed) {
		t.Errorf("Resume of an ended session: %v, want ErrClosed", err)
	}
}

// A side that only receives has nothing of its own waiting for an acknowledgement, so
// only its pings can show that the carrier towards it froze: it keeps the busy ping
// rate while data arrives and falls back to the idle keepalive some time after.
func TestPingRateFollowsArrivingData(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		lastData  time.Time
		lastHeard time.Time
		want      time.Duration
	}{
		{"nothing arrived", time.Time{}, time.Time{}, DefaultIdlePing},
		{"data just arrived", now, now, busyPingMax},
		{"data arrived long ago", now.Add(-2 * recentData), now.Add(-2 * recentData), DefaultIdlePing},
		{"the peer pinged after our ping", time.Time{}, now.Add(3 * time.Second), DefaultIdlePing + 3*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLink(0, nil)
			l.srtt = time.Hour // clamped to busyPingMax
			a := &attachment{lastPing: now, lastData: tt.lastData, lastHeard: tt.lastHeard}
			if got := l.nextPing(a).Sub(now); got != tt.want {
				t.Fatalf("next ping in %v, want %v", got, tt.want)
			}
		})
	}
}

// The RTT estimator is RFC 6298's: the first sample sets SRTT and half of it as
// RTTVAR; later ones move SRTT by 1/8 and RTTVAR by 1/4 of their deviation.
func TestRTTEstimatorFollowsRFC6298(t *testing.T) {
	l := newLink(0, nil)
	steps := []struct{ sample, srtt, rttvar time.Duration }{
		{100 * time.Millisecond, 100 * time.Millisecond, 50 * time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond, 37500 * time.Microsecond},
		{180 * time.Millisecond, 110 * time.Millisecond, 48125 * time.Microsecond},
	}
	for i, s := range steps {
		l.addSample(s.sample)
		if p := l.progressReport(); p.SRTT != s.srtt || p.RTTVar != s.rttvar {
			t.Fatalf("after sample %d (%v): SRTT %v, RTTVAR %v; want %v, %v", i, s.sample, p.SRTT, p.RTTVar, s.srtt, s.rttvar)
		}
	}
}

// The idle keepalive follows SetIdlePing, for the carrier in use. (That the live
// carrier's writer looks again is TestSetIdlePingReachesTheLiveCarrier's.)
func TestIdlePingFollowsTheSetting(t *testing.T) {
	now := time.Now()
	l := newLink(0, nil)
	a := &attachment{l: l, lastPing: now, writing: true} // a writer runs: kick starts none
	l.cur = a
	for _, d := range []time.Duration{5 * time.Second, time.Minute} {
		l.setIdlePing(d)
		if got := l.nextPing(a).Sub(now); got != d {
			t.Errorf("after setIdlePing(%v): next ping in %v", d, got)
		}
	}
}

// The gateway does not answer a client's keepalive with its own: on an idle carrier it
// pings only after hearing nothing for GatewayIdlePing, so a phone's radio wakes for
// the client's pings alone (client.Background pings once a minute).
func TestGatewayWaitsOutTheClientsKeepalive(t *testing.T) {
	checkGoroutines(t)
	cc, sc := resumableConfigs()
	cc.IdlePing = 20 * time.Millisecond
	cconn, sconn := tcpPair(t)
	client, server := pairUp(t, cconn, sconn, cc, sc)
	for deadline := time.Now().Add(hangTimeout); ; time.Sleep(5 * time.Millisecond) {
		if n, answered := pingsAnswered(client.link); n >= 3 && answered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client's keepalives were not answered")
		}
	}
	server.link.mu.Lock()
	next, idle := server.link.nextPing(server.link.cur), server.link.idle
	heard := server.link.cur.lastHeard
	server.link.mu.Unlock()
	if idle != GatewayIdlePing || next.Before(heard.Add(GatewayIdlePing)) {
		t.Errorf("the gateway's next ping is due %v after it last heard the client (keepalive %v); want %v after", next.Sub(heard), idle, GatewayIdlePing)
	}
}

// pingsAnswered returns how many pings the link sent and whether none is outstanding.
func pingsAnswered(l *link) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pings, l.cur != nil && l.cur.ping == 0
}

// An idle session with a long keepalive pings once, at its carrier's start; a shorter
// one set on the live session makes it ping again without anything else to send.
func TestSetIdlePingReachesTheLiveCarrier(t *testing.T) {
	checkGoroutines(t)
	cc, sc := resumableConfigs()
	cc.IdlePing = time.Hour
	cconn, sconn := tcpPair(t)
	client, _ := pairUp(t, cconn, sconn, cc, sc)
	wait := func(what string, done func(n uint64, answered bool) bool) {
		t.Helper()
		for deadline := time.Now().Add(hangTimeout); !done(pingsAnswered(client.link)); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				n, answered := pingsAnswered(client.link)
				t.Fatalf("waiting for %s: %d pings, answered %v", what, n, answered)
			}
		}
	}
	wait("the first ping's answer", func(n uint64, answered bool) bool { return n == 1 && answered })
	client.SetIdlePing(20 * time.Millisecond)
	wait("a ping at the new interval", func(n uint64, _ bool) bool { return n >= 2 })
}

// An idle carrier has no writer goroutine, only a timer for its next ping or ack;
// something to send starts one, which ends once it is sent.
func TestIdleCarrierHoldsNoWriter(t *testing.T) {
	checkGoroutines(t)
	cc, sc := resumableConfigs()
	cconn, sconn := tcpPair(t)
	client, server := pairUp(t, cconn, sconn, cc, sc)
	defer client.Close()
	defer server.Close()
	writing := func(s *Session) bool {
		s.link.mu.Lock()
		defer s.link.mu.Unlock()
		return s.link.cur != nil && s.link.cur.writing
	}
	idle := func() bool { return !writing(client) && !writing(server) }
	waitFor(t, "both writers to end once the first pings and acks are out", idle)
	go serveTest(server)
	if err := echoOnce(client, 300_000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both writers to end again after the echo", idle)
	if err := echoOnce(client, 1000); err != nil {
		t.Fatalf("echo on carriers whose writers had ended: %v", err)
	}
}

// TestArrivingDataSetsTheAckTimerWithoutAWriter: data that leaves an ack to be sent
// later does not start a writer to arm the timer for it; it moves the timer earlier
// when it was set for later (the idle ping), and leaves it when it is due sooner.
func TestArrivingDataSetsTheAckTimerWithoutAWriter(t *testing.T) {
	tests := []struct {
		name    string
		timerIn time.Duration // the idle writer's timer, before the data; 0: none
		wantAck bool          // the timer is moved to the ack's time
	}{
		{"no timer", 0, true},
		{"timer for the idle ping", DefaultIdlePing, true},
		{"timer due before the ack", time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLink(0, nil)
			a := &attachment{l: l, dead: make(chan struct{}), done: make(chan struct{}), rxKnown: true, acked0: true}
			l.mu.Lock()
			l.cur = a
			if tt.timerIn > 0 {
				a.armLocked(time.Now().Add(tt.timerIn))
			}
			before := a.timerAt
			l.mu.Unlock()
			if n, err := l.deliver(a, []byte("one chat message")); n == 0 || err != nil {
				t.Fatalf("deliver = %d, %v", n, err)
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			defer a.finishLocked() // stops the timer before it kicks a writer with no carrier
			if a.writing {
				t.Error("a writer was started to arm the ack's timer")
			}
			if a.ackAt.IsZero() {
				t.Fatal("no ack is due")
			}
			if tt.wantAck && !a.timerAt.Equal(a.ackAt) {
				t.Errorf("timer at %v, want the ack's time %v", a.timerAt, a.ackAt)
			}
			if !tt.wantAck && !a.timerAt.Equal(before) {
				t.Errorf("timer moved from %v to %v, though it was due before the ack", before, a.timerAt)
			}
		})
	}
}

// TestWriteSendsFromItsOwnGoroutine: on an idle carrier, a stream's Write returns
// with its frames on the carrier, sent from its own goroutine, not handed to a
// writer goroutine started for them (a start and a wake-up per message). A chat's
// round trip then starts no goroutine (BenchmarkRoundTrip's goroutines/op).
func TestWriteSendsFromItsOwnGoroutine(t *testing.T) {
	checkGoroutines(t)
	cc, sc := resumableConfigs()
	cconn, sconn := tcpPair(t)
	watched := &watchedConn{Conn: cconn}
	client, server := pairUp(t, watched, sconn, cc, sc)
	defer client.Close()
	defer server.Close()
	go serveTest(server)
	conn, err := client.OpenStream(context.Background(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	writing := func(s *Session) bool {
		s.link.mu.Lock()
		defer s.link.mu.Unlock()
		return s.link.cur != nil && s.link.cur.writing
	}
	msg, got := randomBytes(1024), make([]byte, 1024)
	for i := range 20 {
		waitFor(t, "the client's writer to end", func() bool { return !writing(client) })
		before := watched.written.Load()
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		if sent := watched.written.Load() - before; sent < int64(len(msg)) {
			t.Fatalf("message %d: Write returned with %d bytes on the carrier, want its %d and their framing", i, sent, len(msg))
		}
		if _, err := io.ReadFull(conn, got); err != nil {
			t.Fatal(err)
		}
	}
}

// stackConn notes, for each write, whether fn was on the writing goroutine's stack.
type stackConn struct {
	net.Conn
	fn     string
	mu     sync.Mutex
	inside []bool
}

func (c *stackConn) Write(p []byte) (int, error) {
	buf := make([]byte, 64<<10)
	stack := string(buf[:runtime.Stack(buf, false)])
	c.mu.Lock()
	c.inside = append(c.inside, strings.Contains(stack, c.fn))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *stackConn) writes() []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.inside)
}

// A new session's first frames (its offset and first ack) go from the handshake's
// own goroutine, not from a writer started for them: one goroutine start and one
// wake-up less per handshake, on the gateway and on the client.
func TestTheFirstFramesGoFromTheHandshake(t *testing.T) {
	cc, sc := testConfigs()
	cconn, sconn := tcpPair(t)
	cw := &stackConn{Conn: cconn, fn: "session.Client("}
	sw := &stackConn{Conn: sconn, fn: "session.Server("}
	client, server := pairUp(t, cw, sw, cc, sc)
	defer client.Close()
	defer server.Close()
	for _, c := range []*stackConn{cw, sw} {
		w := c.writes()
		if len(w) < 2 {
			t.Fatalf("%s made %d writes before it returned, want its hello and its first frames", c.fn, len(w))
		}
		if !w[0] || !w[1] {
			t.Errorf("%s: hello written inside it %v, first frames %v; want both", c.fn, w[0], w[1])
		}
	}
}
