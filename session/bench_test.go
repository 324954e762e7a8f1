package session

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// BenchmarkHandshake is a whole handshake, client and gateway, over net.Pipe.
func BenchmarkHandshake(b *testing.B) {
	cc, sc := testConfigs()
	for b.Loop() {
		client, server := bareHandshake(b, cc, sc)
		client.Close()
		server.Close()
	}
}

// BenchmarkServerHandshake is the gateway's cost per hello: a valid one (mark, KEM
// encapsulation, signature, session start), and garbage rejected after the prefix.
func BenchmarkServerHandshake(b *testing.B) {
	b.Run("valid", func(b *testing.B) {
		cc, sc := testConfigs()
		hellos := make([][]byte, b.N)
		for i := range hellos {
			hellos[i] = craftHello(b, cc)
		}
		created := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
		metrics.Read(created)
		before := created[0].Value.Uint64()
		b.ResetTimer()
		for i := range b.N {
			s, _, err := Server(context.Background(), bufferConn{r: bytes.NewReader(hellos[i]), w: io.Discard}, sc)
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		metrics.Read(created)
		b.ReportMetric(float64(created[0].Value.Uint64()-before)/float64(b.N), "goroutines/op")
	})
	b.Run("garbage", func(b *testing.B) {
		_, sc := testConfigs()
		garbage := randomBytes(helloPrefixSize)
		for b.Loop() {
			if _, _, err := Server(context.Background(), bufferConn{r: bytes.NewReader(garbage), w: io.Discard}, sc); helloReason(err) != "mark" {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkResume is a whole resume handshake, client and gateway, over net.Pipe: the
// session's part of failover time.
func BenchmarkResume(b *testing.B) {
	cc, sc := resumableConfigs()
	client, server := bareHandshake(b, cc, sc)
	defer client.Close()
	defer server.Close()
	for b.Loop() {
		c, s := net.Pipe()
		errc := make(chan error, 1)
		go func() {
			_, outcome, err := Server(context.Background(), s, sc)
			if err == nil && outcome != Resumed {
				err = fmt.Errorf("Server: %v, want %v", outcome, Resumed)
			}
			errc <- err
		}()
		if err := client.Resume(context.Background(), c, cc); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThroughput sends one stream's bytes over a session on TCP loopback, next
// to the same transfer over the bare TCP connection.
func BenchmarkThroughput(b *testing.B) {
	const chunk = 64 << 10
	buf := randomBytes(chunk)
	b.Run("tcp", func(b *testing.B) {
		c, s := tcpPair(b)
		defer c.Close()
		go io.Copy(io.Discard, s)
		b.SetBytes(chunk)
		for b.Loop() {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		c.Close()
	})
	b.Run("session", func(b *testing.B) {
		cc, sc := testConfigs()
		r := mustHandshake(b, carrier{"tcp", tcpPair}, cc, sc)
		go func() {
			for {
				st, err := r.server.AcceptStream(context.Background())
				if err != nil {
					return
				}
				conn, err := st.Accept()
				if err != nil {
					return
				}
				go io.Copy(io.Discard, conn)
			}
		}()
		conn, err := r.client.OpenStream(context.Background(), "sink")
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(chunk)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := conn.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		conn.Close()
	})
}

// BenchmarkRoundTrip is a chat's pattern: 1 KiB echoed through a stream, one
// message at a time, over loopback TCP. It reports the goroutines started per round
// trip, each a start and usually a wake-up of another thread.
func BenchmarkRoundTrip(b *testing.B) {
	cc, sc := testConfigs()
	r := mustHandshake(b, carrier{"tcp", tcpPair}, cc, sc)
	go serveTest(r.server)
	conn, err := r.client.OpenStream(context.Background(), "echo")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	msg, got := randomBytes(1024), make([]byte, 1024)
	created := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(created)
	before := created[0].Value.Uint64()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, got); err != nil {
			b.Fatal(err)
		}
	}
	metrics.Read(created)
	b.ReportMetric(float64(created[0].Value.Uint64()-before)/float64(b.N), "goroutines/op")
}

// BenchmarkIdleSessionMemory holds many established sessions, each with one open
// idle stream, and reports the heap and stack they use. Client and gateway sessions
// live in this one process; a gateway session costs about half of a pair.
func BenchmarkIdleSessionMemory(b *testing.B) {
	const pairs = 500
	cc, sc := testConfigs()
	for b.Loop() {
		before := memInUse()
		var sessions []*Session
		var streams []net.Conn
		for range pairs {
			client, server := bareHandshake(b, cc, sc)
			go serveTest(server)
			conn, err := client.OpenStream(context.Background(), "hold")
			if err != nil {
				b.Fatal(err)
			}
			sessions = append(sessions, client, server)
			streams = append(streams, conn)
		}
		// Idle means nothing waits for an acknowledgement (a delayed ack comes within
		// 50 ms); until then a session holds a retransmit chunk.
		for _, s := range sessions {
			for s.Progress().Unacked > 0 {
				time.Sleep(time.Millisecond)
			}
		}
		after := memInUse()
		b.ReportMetric(float64(after-before)/pairs, "B/pair")
		b.ReportMetric(float64(after-before)/pairs/2, "B/session")
		for _, s := range sessions {
			s.Close()
		}
		runtime.KeepAlive(streams)
	}
}

func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// bareHandshake connects a pair over net.Pipe with nothing of the tests' own in
// between, so that memory measurements see only the sessions.
func bareHandshake(b *testing.B, cc *ClientConfig, sc *ServerConfig) (client, server *Session) {
	c, s := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		var err error
		server, _, err = Server(context.Background(), s, sc)
		errc <- err
	}()
	client, err := Client(context.Background(), c, cc)
	if err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return client, server
}
