package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hangTimeout only stops a broken test from hanging; no test asserts durations.
const hangTimeout = 20 * time.Second

var testEndpoint = Endpoint{Transport: "tcp", Address: "127.0.0.1:4433", ServerName: "www.example.com"}

func testIdentity(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testSecret(b byte) Secret {
	var s Secret
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func testConfigs() (*ClientConfig, *ServerConfig) {
	id := testIdentity(1)
	cc := &ClientConfig{
		GatewayKey: id.Public().(ed25519.PublicKey),
		Secret:     testSecret(7),
		Endpoint:   testEndpoint,
	}
	sc := &ServerConfig{
		Identity: id,
		Secrets:  []Secret{testSecret(3), testSecret(7)},
		Marks:    new(Marks),
		Endpoint: testEndpoint,
		Replay:   NewReplayCache(0),
		Store:    NewMemoryStore(),
	}
	return cc, sc
}

// A carrier gives a connected pair of conns: client side, gateway side.
type carrier struct {
	name string
	pair func(t testing.TB) (net.Conn, net.Conn)
}

var carriers = []carrier{
	{"pipe", func(testing.TB) (net.Conn, net.Conn) { return net.Pipe() }},
	{"tcp", tcpPair},
}

func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	defer l.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.Accept()
		ch <- accepted{c, err}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial loopback: %v", err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatalf("accept on loopback: %v", a.err)
	}
	return c, a.c
}

// watchedConn counts what the gateway side writes and keeps a copy of what the
// client side writes (tests replay hellos from it).
type watchedConn struct {
	net.Conn
	written atomic.Int64
	read    atomic.Int64
	mu      sync.Mutex
	keep    int // bytes of writes to keep
	kept    []byte
}

func (c *watchedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if room := c.keep - len(c.kept); room > 0 {
		c.kept = append(c.kept, p[:min(room, len(p))]...)
	}
	c.mu.Unlock()
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *watchedConn) keptBytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.kept...)
}

type handshakeResults struct {
	client, server       *Session
	clientErr, serverErr error
	serverWrote          int64
	clientHello          []byte
}

// handshake runs both sides over a fresh carrier pair. A side that fails closes its
// conn, as the gateway and the client do.
func handshake(t testing.TB, c carrier, cc *ClientConfig, sc *ServerConfig) handshakeResults {
	t.Helper()
	cconn, sconn := c.pair(t)
	cw := &watchedConn{Conn: cconn, keep: helloPrefixSize + maxHelloBody}
	sw := &watchedConn{Conn: sconn}
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	var r handshakeResults
	var wg sync.WaitGroup
	wg.Go(func() {
		r.server, _, r.serverErr = Server(ctx, sw, sc)
		if r.serverErr != nil {
			sconn.Close()
		}
	})
	r.client, r.clientErr = Client(ctx, cw, cc)
	if r.clientErr != nil {
		cconn.Close()
	}
	wg.Wait()
	r.serverWrote = sw.written.Load()
	r.clientHello = cw.keptBytes()
	t.Cleanup(func() {
		for _, s := range []*Session{r.client, r.server} {
			if s != nil {
				s.Close()
			}
		}
	})
	return r
}

func mustHandshake(t testing.TB, c carrier, cc *ClientConfig, sc *ServerConfig) handshakeResults {
	t.Helper()
	r := handshake(t, c, cc, sc)
	if r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("handshake: client error %v, server error %v", r.clientErr, r.serverErr)
	}
	return r
}

// serveTest answers streams the way a gateway would: "echo" echoes, "sink" and
// "source" take and give counted bytes (see upload and download), "hold" holds, "down"
// is unavailable, anything else is unknown.
func serveTest(s *Session) {
	for {
		st, err := s.AcceptStream(context.Background())
		if err != nil {
			return
		}
		switch st.Service() {
		case "echo":
			conn, err := st.Accept()
			if err != nil {
				continue
			}
			go func() {
				io.Copy(conn, conn)
				conn.Close()
			}()
		case "sink", "source":
			conn, err := st.Accept()
			if err != nil {
				continue
			}
			go func() {
				defer conn.Close()
				if st.Service() == "sink" {
					serveSink(conn)
				} else {
					serveSource(conn)
				}
			}()
		case "hold":
			if _, err := st.Accept(); err != nil {
				continue
			}
		case "down":
			st.Refuse(RefuseUnavailable)
		default:
			st.Refuse(RefuseUnknownService)
		}
	}
}

// serverOnly runs Server on the gateway side of a fresh pair and gives the test the
// client side to write raw bytes on, and the gateway side to see what Server left
// unread.
type serverOnly struct {
	client, server net.Conn
	written, read  *atomic.Int64
	done           chan struct{}
	sess           *Session
	err            error
}

func startServer(t testing.TB, c carrier, ctx context.Context, sc *ServerConfig) *serverOnly {
	t.Helper()
	cconn, sconn := c.pair(t)
	sw := &watchedConn{Conn: sconn}
	so := &serverOnly{client: cconn, server: sconn, written: &sw.written, read: &sw.read, done: make(chan struct{})}
	go func() {
		defer close(so.done)
		so.sess, _, so.err = Server(ctx, sw, sc)
	}()
	t.Cleanup(func() {
		cconn.Close()
		sconn.Close()
		<-so.done
		if so.sess != nil {
			so.sess.Close()
		}
	})
	return so
}

func (so *serverOnly) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-so.done:
		return so.err
	case <-time.After(hangTimeout):
		t.Fatal("Server did not return")
		return nil
	}
}

// checkGoroutines fails the test if goroutines started during it are still running
// at its end (after waiting for them to wind down).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(hangTimeout)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines before the test, %d after:\n%s", before, n, buf)
		}
	})
}

func helloReason(err error) string {
	var he *HelloError
	if errors.As(err, &he) {
		return he.Reason
	}
	return ""
}

func consumed(err error) []byte {
	var he *HelloError
	if errors.As(err, &he) {
		return he.Consumed
	}
	return nil
}

// waitFor polls cond until it holds; the timeout only stops a hang.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
