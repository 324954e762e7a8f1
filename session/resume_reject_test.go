package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// detachedPair is a resumable pair whose carrier the client has dropped.
type detachedPair struct {
	client, server *Session
	cc             *ClientConfig
	sc             *ServerConfig
}

func newDetachedPair(t *testing.T, c carrier, tweak func(*ClientConfig, *ServerConfig)) *detachedPair {
	t.Helper()
	cc, sc := resumableConfigs()
	if tweak != nil {
		tweak(cc, sc)
	}
	cconn, sconn := c.pair(t)
	client, server := pairUp(t, cconn, sconn, cc, sc)
	go serveTest(server)
	if err := echoOnce(client, 100); err != nil {
		t.Fatal(err)
	}
	client.DropCarrier()
	return &detachedPair{client, server, cc, sc}
}

// attempt runs one resume over a watched pair and reports what each side saw.
type attempt struct {
	cerr, serr  error
	serverWrote int64
	clientHello []byte
}

func (p *detachedPair) attempt(t *testing.T, c carrier, cc *ClientConfig, sc *ServerConfig) attempt {
	t.Helper()
	cconn, sconn := c.pair(t)
	cw := &watchedConn{Conn: cconn, keep: helloPrefixSize + maxHelloBody}
	sw := &watchedConn{Conn: sconn}
	var a attempt
	a.cerr, a.serr = resumeOnce(t, p.client, cw, sw, cc, sc)
	a.serverWrote, a.clientHello = sw.written.Load(), cw.keptBytes()
	return a
}

// TestResumeRejections: a resume hello that is not good is answered like any bad
// hello (nothing at all) and leaves the session as it was; one for a session the
// gateway no longer has gets a signed rejection and ends the session.
func TestResumeRejections(t *testing.T) {
	otherKey := testIdentity(9).Public().(ed25519.PublicKey)
	cases := []struct {
		name   string
		tweak  func(*ClientConfig, *ServerConfig) // before the session starts
		spoil  func(p *detachedPair) (restore func())
		reason string // the gateway's HelloError reason; "" for none
		client error  // what Resume returns
		ends   bool   // the attempt ends the session (else a good resume follows)
	}{
		{
			name: "tampered ticket",
			spoil: func(p *detachedPair) func() {
				p.client.client.ticket[40] ^= 1
				return func() { p.client.client.ticket[40] ^= 1 }
			},
			reason: "ticket", client: ErrNoAnswer,
		},
		{
			name: "ticket from another gateway key",
			spoil: func(p *detachedPair) func() {
				good := p.client.client.ticket
				key, _ := ticketKey(testIdentity(9))
				p.client.client.ticket, _ = sealTicket(key, ticketContents{id: p.client.id, rs: p.client.client.rs})
				return func() { p.client.client.ticket = good }
			},
			reason: "ticket", client: ErrNoAnswer,
		},
		{
			name: "wrong resumption secret",
			spoil: func(p *detachedPair) func() {
				p.client.client.rs[0] ^= 1
				return func() { p.client.client.rs[0] ^= 1 }
			},
			reason: "ticket", client: ErrNoAnswer,
		},
		{
			name: "session gone after the grace period",
			tweak: func(_ *ClientConfig, sc *ServerConfig) {
				sc.ResumeGrace = time.Millisecond
			},
			spoil: func(p *detachedPair) func() {
				<-p.server.Done()
				return func() {}
			},
			client: ErrResumeRejected, ends: true,
		},
		{
			name: "gateway restarted",
			spoil: func(p *detachedPair) func() {
				p.sc.Sessions = NewRegistry()
				return func() {}
			},
			client: ErrResumeRejected, ends: true,
		},
		{
			name: "another gateway's bridge line",
			spoil: func(p *detachedPair) func() {
				good := p.cc.GatewayKey
				p.cc.GatewayKey = otherKey
				return func() { p.cc.GatewayKey = good }
			},
			client: ErrAuth,
		},
	}
	for _, c := range carriers {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				checkGoroutines(t)
				p := newDetachedPair(t, c, tc.tweak)
				restore := tc.spoil(p)
				a := p.attempt(t, c, p.cc, p.sc)
				restore()
				if !errors.Is(a.cerr, tc.client) {
					t.Fatalf("Resume: %v, want %v", a.cerr, tc.client)
				}
				if tc.reason != "" {
					if got := helloReason(a.serr); got != tc.reason {
						t.Errorf("gateway: %v, want a bad hello (%s)", a.serr, tc.reason)
					}
					if a.serverWrote != 0 {
						t.Errorf("gateway wrote %d bytes to a bad resume hello, want none", a.serverWrote)
					}
				}
				if tc.ends {
					if !errors.Is(a.serr, ErrResumeRejected) {
						t.Errorf("gateway: %v, want ErrResumeRejected", a.serr)
					}
					waitDone(t, "client", p.client)
					if !errors.Is(p.client.Err(), ErrResumeRejected) {
						t.Errorf("client session ended with %v, want ErrResumeRejected", p.client.Err())
					}
					return
				}
				if err := p.client.Err(); err != nil {
					t.Fatalf("a refused resume ended the session: %v", err)
				}
				if a := p.attempt(t, c, p.cc, p.sc); a.cerr != nil || a.serr != nil {
					t.Fatalf("good resume after the bad one: client error %v, gateway error %v", a.cerr, a.serr)
				}
				if err := echoOnce(p.client, 1000); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestReplayedResumeHelloIsRejected sends a resume hello that worked a second time,
// on a new carrier: it is a replay, answered with nothing, and the session is
// unaffected.
func TestReplayedResumeHelloIsRejected(t *testing.T) {
	checkGoroutines(t)
	c := carriers[1]
	p := newDetachedPair(t, c, nil)
	a := p.attempt(t, c, p.cc, p.sc)
	if a.cerr != nil || a.serr != nil {
		t.Fatalf("resume: client error %v, gateway error %v", a.cerr, a.serr)
	}
	so := startServer(t, c, context.Background(), p.sc)
	go so.client.Write(a.clientHello)
	err := so.wait(t)
	if got := helloReason(err); got != "replay" {
		t.Fatalf("replayed resume hello: %v, want a bad hello (replay)", err)
	}
	if n := so.written.Load(); n != 0 {
		t.Errorf("gateway wrote %d bytes to a replayed resume hello, want none", n)
	}
	if err := echoOnce(p.client, 1000); err != nil {
		t.Fatalf("session after the replay: %v", err)
	}
}

// TestUsedTicketIsRejected: once the client has used the carrier its new ticket came
// on, the ticket it resumed with is spent.
func TestUsedTicketIsRejected(t *testing.T) {
	checkGoroutines(t)
	c := carriers[1]
	p := newDetachedPair(t, c, nil)
	oldTicket, oldRS := bytes.Clone(p.client.client.ticket), p.client.client.rs
	if a := p.attempt(t, c, p.cc, p.sc); a.cerr != nil || a.serr != nil {
		t.Fatalf("resume: client error %v, gateway error %v", a.cerr, a.serr)
	}
	if err := echoOnce(p.client, 1000); err != nil { // the gateway hears the new carrier
		t.Fatal(err)
	}
	newTicket, newRS := p.client.client.ticket, p.client.client.rs
	if bytes.Equal(newTicket, oldTicket) {
		t.Fatal("a resume did not issue a new ticket")
	}
	p.client.DropCarrier()
	p.client.client.ticket, p.client.client.rs = oldTicket, oldRS
	a := p.attempt(t, c, p.cc, p.sc)
	if helloReason(a.serr) != "ticket" || !errors.Is(a.cerr, ErrNoAnswer) || a.serverWrote != 0 {
		t.Fatalf("resume with a spent ticket: gateway %v (wrote %d bytes), client %v; want a silent bad hello (ticket)", a.serr, a.serverWrote, a.cerr)
	}
	p.client.client.ticket, p.client.client.rs = newTicket, newRS
	if a := p.attempt(t, c, p.cc, p.sc); a.cerr != nil || a.serr != nil {
		t.Fatalf("resume with the current ticket: client error %v, gateway error %v", a.cerr, a.serr)
	}
}

// TestTicketSurvivesALostServerHello: when the carrier dies after the gateway sent
// its answer and before the client read it, the client still holds the previous
// ticket, and the gateway takes it.
func TestTicketSurvivesALostServerHello(t *testing.T) {
	checkGoroutines(t)
	c := carriers[1]
	p := newDetachedPair(t, c, nil)
	cconn, sconn := c.pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		_, outcome, err := Server(ctx, sconn, p.sc)
		if err == nil && outcome != Resumed {
			err = fmt.Errorf("Server: %v, want %v", outcome, Resumed)
		}
		served <- err
	}()
	if err := p.client.Resume(ctx, &readFailConn{Conn: cconn}, p.cc); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("Resume with the answer lost: %v, want ErrNoAnswer", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("gateway: %v, want a resume", err)
	}
	cconn.Close()
	if a := p.attempt(t, c, p.cc, p.sc); a.cerr != nil || a.serr != nil {
		t.Fatalf("resume with the ticket held before: client error %v, gateway error %v", a.cerr, a.serr)
	}
	if err := echoOnce(p.client, 1000); err != nil {
		t.Fatal(err)
	}
}

// readFailConn writes, and fails every read once the gateway has answered.
type readFailConn struct{ net.Conn }

func (c *readFailConn) Read(p []byte) (int, error) {
	// Wait for the answer, so that the gateway has sent it, then lose it.
	c.Conn.SetReadDeadline(time.Now().Add(hangTimeout))
	var b [1]byte
	if _, err := c.Conn.Read(b[:]); err != nil {
		return 0, err
	}
	return 0, errCut
}
