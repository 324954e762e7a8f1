package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pipeRelayer is a fleet of two edges in one process: it relays to holder as the
// fleet's link does, over a pipe, with the handoff encoded and parsed on the way.
type pipeRelayer struct {
	holder *ServerConfig
	err    error // returned instead of relaying, when set
	wg     sync.WaitGroup
}

func (p *pipeRelayer) Relay(ctx context.Context, id ID, h *Handoff, carrier net.Conn) error {
	if p.err != nil {
		return p.err
	}
	b, err := h.MarshalBinary()
	if err != nil {
		return err
	}
	parsed, err := ParseHandoff(b)
	if err != nil {
		return err
	}
	near, far := net.Pipe()
	go func() {
		if _, err := ServeHandoff(ctx, far, parsed, p.holder); err != nil {
			far.Close()
		}
	}()
	first := make([]byte, 1)
	if _, err := io.ReadFull(near, first); err != nil {
		near.Close()
		return fmt.Errorf("holder refused: %w", err)
	}
	if _, err := carrier.Write(first); err != nil {
		return err
	}
	p.wg.Add(2)
	go func() { defer p.wg.Done(); io.Copy(near, carrier); near.Close() }()
	go func() { defer p.wg.Done(); io.Copy(carrier, near); carrier.Close() }()
	return nil
}

// twoEdges returns a client config for each of two edges sharing an identity, a
// secret and a replay cache, and their server configs: b relays to a.
func twoEdges() (ccA, ccB *ClientConfig, scA, scB *ServerConfig, relay *pipeRelayer) {
	ccA, scA = resumableConfigs()
	epB := Endpoint{Transport: "tcp", Address: "127.0.0.2:4433"}
	ccB, scB = new(ClientConfig), new(ServerConfig)
	*ccB, *scB = *ccA, *scA
	ccB.Endpoint, scB.Endpoint = epB, epB
	scB.Sessions = NewRegistry()
	relay = &pipeRelayer{holder: scA}
	scB.Relay = relay
	return ccA, ccB, scA, scB, relay
}

// A resume that reaches an edge which does not hold the session goes to the one that
// does: the session, with its streams and what they had buffered, lives on there,
// reached through the other edge, and later directly again.
func TestResumeRelayedToTheEdgeHoldingTheSession(t *testing.T) {
	ccA, ccB, scA, scB, relay := twoEdges()
	cconn, sconn := tcpPair(t)
	client, server := pairUp(t, cconn, sconn, ccA, scA)
	go serveTest(server)
	stream, err := client.OpenStream(context.Background(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	echo := func(msg string) {
		t.Helper()
		if _, err := stream.Write([]byte(msg)); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(stream, got); err != nil || string(got) != msg {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
	echo("before the cut")

	cconn.Close()
	<-client.CarrierDone()
	c2 := resumeRelayed(t, "resume through edge b", client, ccB, scB)
	echo("through edge b")
	if st, err := scA.Store.Get(context.Background(), server.ID()); err != nil || st.Endpoint != scB.Endpoint {
		t.Errorf("the holder's store: %+v, %v; want the endpoint of edge b, where the carrier came in", st, err)
	}

	c2.Close()
	<-client.CarrierDone()
	c3, s3 := tcpPair(t)
	if cerr, serr := resumeOnce(t, client, c3, s3, ccA, scA); cerr != nil || serr != nil {
		t.Fatalf("resume directly at edge a again: client %v, gateway %v", cerr, serr)
	}
	echo("at edge a again")
	if server.Err() != nil || client.Err() != nil {
		t.Fatalf("a session ended: gateway %v, client %v", server.Err(), client.Err())
	}
	client.Close()
	relay.wg.Wait()
}

// resumeRelayed resumes client's session on a new carrier to the edge of sc, which
// does not hold it, fails the test unless that edge relayed the resume, and returns
// the client's side of the carrier.
func resumeRelayed(t *testing.T, what string, client *Session, cc *ClientConfig, sc *ServerConfig) net.Conn {
	t.Helper()
	c, s := tcpPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	outcome := make(chan Outcome, 1)
	go func() {
		held, o, err := Server(ctx, s, sc)
		if err != nil || held != nil {
			t.Errorf("%s: Server = %v, %v, %v; want Relayed and no session", what, held, o, err)
		}
		outcome <- o
	}()
	if err := client.Resume(ctx, c, cc); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if o := <-outcome; o != Relayed {
		t.Fatalf("%s: the edge's outcome %v; want relayed", what, o)
	}
	return c
}

// When the relay finds no edge holding the session, the receiving edge says so,
// signed, and the client opens a new session at once; any other failure to relay
// leaves the hello unanswered, and the session as it was.
func TestRelayFailures(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantClient error
		wantReason string // of edge b's HelloError; empty: ErrResumeRejected
	}{
		{"the holder is gone", fmt.Errorf("edge a: %w", ErrNotFound), ErrResumeRejected, ""},
		{"the holder does not answer", errors.New("link reset"), ErrNoAnswer, "relay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ccA, ccB, scA, scB, relay := twoEdges()
			relay.err = tt.err
			client := detachedClient(t, ccA, scA)
			c, s := tcpPair(t)
			cerr, serr := resumeOnce(t, client, c, s, ccB, scB)
			if !errors.Is(cerr, tt.wantClient) {
				t.Errorf("client: %v; want %v", cerr, tt.wantClient)
			}
			var he *HelloError
			switch {
			case tt.wantReason == "" && !errors.Is(serr, ErrResumeRejected):
				t.Errorf("edge b: %v; want ErrResumeRejected", serr)
			case tt.wantReason != "" && (!errors.As(serr, &he) || he.Reason != tt.wantReason):
				t.Errorf("edge b: %v; want a HelloError of reason %q", serr, tt.wantReason)
			}
			if ended, want := client.Err() != nil, tt.wantClient == ErrResumeRejected; ended != want {
				t.Errorf("the client's session ended: %v, want %v (%v)", ended, want, client.Err())
			}
		})
	}
}

// detachedClient opens a session at the edge of sc and cuts its carrier.
func detachedClient(t *testing.T, cc *ClientConfig, sc *ServerConfig) *Session {
	t.Helper()
	cconn, sconn := tcpPair(t)
	client, server := pairUp(t, cconn, sconn, cc, sc)
	go serveTest(server)
	cconn.Close()
	<-client.CarrierDone()
	return client
}

// A handoff whose keys do not open its hello is refused, and nothing is written; the
// same handoff untampered is answered.
func TestHandoffThatDoesNotOpenIsRefused(t *testing.T) {
	ccA, ccB, scA, scB, _ := twoEdges()
	handoffs := make(chan *Handoff, 1)
	scB.Relay = relayFunc(func(_ context.Context, _ ID, h *Handoff, _ net.Conn) error {
		handoffs <- h
		return errors.New("kept for the test")
	})
	client := detachedClient(t, ccA, scA)
	c, s := tcpPair(t)
	resumeOnce(t, client, c, s, ccB, scB)
	h := <-handoffs

	answer := func(h *Handoff) (int64, error) {
		near, far := net.Pipe()
		defer near.Close()
		go io.Copy(io.Discard, near)
		w := &watchedConn{Conn: far}
		_, err := ServeHandoff(context.Background(), w, h, scA)
		return w.written.Load(), err
	}
	tampered := *h
	tampered.keys[0] ^= 1
	var he *HelloError
	if wrote, err := answer(&tampered); !errors.As(err, &he) || he.Reason != "malformed" || wrote != 0 {
		t.Fatalf("ServeHandoff with tampered keys: %v, %d bytes written; want malformed and nothing", err, wrote)
	}
	if wrote, err := answer(h); err != nil || wrote == 0 {
		t.Fatalf("ServeHandoff of the handoff as it came: %v, %d bytes written; want an answer", err, wrote)
	}
}

type relayFunc func(context.Context, ID, *Handoff, net.Conn) error

func (f relayFunc) Relay(ctx context.Context, id ID, h *Handoff, c net.Conn) error {
	return f(ctx, id, h, c)
}

func FuzzParseHandoff(f *testing.F) {
	hello := bytes.Repeat([]byte{7}, helloPrefixSize+clientHelloFixed+resumeHelloFixed+97+tagSize)
	h := &Handoff{Endpoint: testEndpoint, hello: hello}
	good, err := h.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{handoffVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHandoff(b)
		if err != nil {
			return
		}
		again, err := h.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a handoff that parsed does not encode back to itself (%v)", err)
		}
	})
}

// A resume relayed to the edge holding the session is answered as one received there:
// during a rotation's overlap the answer announces the next key, and after the switch
// it is signed with that key, which the client learned through the relay.
func TestRelayedResumeFollowsTheRotation(t *testing.T) {
	ccA, ccB, scA, scB, relay := twoEdges()
	var now atomic.Int64 // the edges' clock, read by the holder's goroutines too
	now.Store(switchAt.Add(-time.Hour).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	ccA.Now, ccB.Now, scA.Now, scB.Now = clock, clock, clock, clock
	cconn, sconn := tcpPair(t)
	client, server := pairUp(t, cconn, sconn, ccA, scA)
	go serveTest(server)
	stream, err := client.OpenStream(context.Background(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if client.NextGatewayKey() != nil {
		t.Fatal("a next key learnt before any rotation")
	}

	rotation := &Rotation{Next: testIdentity(2), At: switchAt}
	scA.Rotation, scB.Rotation = rotation, rotation
	resumeThroughB := func(when string) {
		t.Helper()
		client.DropCarrier()
		<-client.CarrierDone()
		resumeRelayed(t, when+": resume through edge b", client, ccB, scB)
		if err := echoOn(stream, 1000); err != nil {
			t.Fatalf("%s: echo: %v", when, err)
		}
	}
	resumeThroughB("in the overlap")
	if got := client.NextGatewayKey(); !got.Equal(pub(testIdentity(2))) {
		t.Fatalf("the relayed answer announced %x; want the next key", got)
	}
	now.Store(switchAt.Add(time.Minute).UnixNano())
	resumeThroughB("after the switch")
	client.Close()
	relay.wg.Wait()
}
