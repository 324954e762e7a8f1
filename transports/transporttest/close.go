package transporttest

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// closeWriter is a conn that can finish sending while it still reads, as
// *net.TCPConn and *tls.Conn can.
type closeWriter interface {
	CloseWrite() error
}

// testHalfClose checks that after one side's CloseWrite the other reads everything
// sent then io.EOF, and can still answer.
func (s *suite) testHalfClose(t *testing.T) {
	tests := []struct {
		name   string
		closer func(client, server net.Conn) (closer, peer net.Conn)
	}{
		{"client closes write", func(c, s net.Conn) (net.Conn, net.Conn) { return c, s }},
		{"server closes write", func(c, s net.Conn) (net.Conn, net.Conn) { return s, c }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := s.begin(t)
			closer, peer := tt.closer(e.connect())
			cw, ok := closer.(closeWriter)
			if !ok {
				t.Fatalf("%T has no CloseWrite method; set Options.NoHalfClose if the transport cannot half-close", closer)
			}
			request, reply := randomBytes(20_000), randomBytes(20_000)
			sent := async(func() error {
				if _, err := closer.Write(request); err != nil {
					return err
				}
				return cw.CloseWrite()
			})
			got, err := io.ReadAll(peer)
			if err != nil {
				t.Fatalf("peer reading until EOF after CloseWrite: %v", err)
			}
			if err := wait(t, sent, "Write then CloseWrite"); err != nil {
				t.Fatalf("Write then CloseWrite: %v", err)
			}
			if !bytes.Equal(got, request) {
				t.Fatalf("peer read %d bytes before EOF, want the %d sent", len(got), len(request))
			}
			answered := async(func() error {
				if _, err := peer.Write(reply); err != nil {
					return err
				}
				return peer.Close()
			})
			got, err = io.ReadAll(closer)
			if err != nil {
				t.Fatalf("reading the peer's answer after own CloseWrite: %v", err)
			}
			if err := wait(t, answered, "peer's answer"); err != nil {
				t.Fatalf("peer answering after reading EOF: %v", err)
			}
			if !bytes.Equal(got, reply) {
				t.Fatalf("read %d bytes of answer after own CloseWrite, want the %d sent", len(got), len(reply))
			}
		})
	}
}

// testClose checks what Read, Write and Close do once either side has closed.
func (s *suite) testClose(t *testing.T) {
	tests := []struct {
		name  string
		check func(t *testing.T, client, server net.Conn)
	}{
		{"Read after peer Close ends", func(t *testing.T, client, server net.Conn) {
			if err := server.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			got, err := readUntilError(t, client)
			if len(got) > 0 {
				t.Errorf("Read returned %d bytes the peer never wrote", len(got))
			}
			if err == nil {
				t.Error("Read after peer Close returned no error")
			}
		}},
		{"Write after own Close fails", func(t *testing.T, client, server net.Conn) {
			client.Close()
			if _, err := client.Write([]byte("late")); err == nil {
				t.Error("Write after Close returned no error")
			}
		}},
		{"Read after own Close fails", func(t *testing.T, client, server net.Conn) {
			client.Close()
			if _, err := client.Read(make([]byte, 10)); err == nil {
				t.Error("Read after Close returned no error")
			}
		}},
		{"Close unblocks own Read", func(t *testing.T, client, server net.Conn) {
			read := asyncRead(client, make([]byte, 10))
			time.Sleep(20 * time.Millisecond) // let the Read block; the check holds either way
			client.Close()
			if r := wait(t, read, "Read after Close"); r.err == nil {
				t.Errorf("Read blocked before Close returned %d bytes and no error", r.n)
			}
		}},
		{"Close twice", func(t *testing.T, client, server net.Conn) {
			if err := client.Close(); err != nil {
				t.Errorf("first Close: %v", err)
			}
			// The server's first Close may fail to tell the gone client; it need not succeed.
			server.Close()
			for _, c := range []net.Conn{client, server} {
				closed := async(c.Close) // may report an error, but must return
				wait(t, closed, "second Close")
				if _, err := c.Write([]byte("x")); err == nil {
					t.Errorf("Write after a second Close of %T returned no error", c)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := s.begin(t)
			client, server := e.connect()
			tt.check(t, client, server)
		})
	}
}

// readUntilError reads c until an error and returns what came before it.
func readUntilError(t *testing.T, c net.Conn) ([]byte, error) {
	t.Helper()
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var got []byte
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				done <- result{got, err}
				return
			}
		}
	}()
	r := wait(t, done, "Read")
	return r.data, r.err
}

// testConcurrentMethods calls every net.Conn method from several goroutines at once,
// for the race detector, while data flows both ways.
func (s *suite) testConcurrentMethods(t *testing.T) {
	e := s.begin(t)
	client, server := e.connect()

	var peer sync.WaitGroup
	peer.Go(func() { io.Copy(io.Discard, server) })
	peer.Go(func() {
		chunk := randomBytes(1024)
		for {
			if _, err := server.Write(chunk); err != nil {
				return
			}
		}
	})

	const workers, rounds = 6, 20
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf, chunk := make([]byte, 1024), randomBytes(512)
			for range rounds {
				if _, err := client.Write(chunk); err != nil {
					t.Errorf("concurrent Write: %v", err)
					return
				}
				if _, err := client.Read(buf); err != nil {
					t.Errorf("concurrent Read: %v", err)
					return
				}
				far := time.Now().Add(hangTimeout)
				for _, set := range []func(time.Time) error{client.SetDeadline, client.SetReadDeadline, client.SetWriteDeadline} {
					if err := set(far); err != nil {
						t.Errorf("concurrent Set*Deadline: %v", err)
						return
					}
				}
				if client.LocalAddr() == nil || client.RemoteAddr() == nil {
					t.Error("LocalAddr or RemoteAddr returned nil")
					return
				}
			}
		})
	}
	wg.Wait()
	// Closing both at once while the peer goroutines still read and write; the errors
	// depend on who loses the race, so only returning matters.
	closed := make(chan error, 2)
	for _, c := range []net.Conn{client, server} {
		go func() { closed <- c.Close() }()
	}
	for range 2 {
		wait(t, closed, "concurrent Close")
	}
	peer.Wait()
}
