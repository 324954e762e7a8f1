package transporttest

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// longAgo is a deadline that has certainly passed.
var longAgo = time.Unix(1, 0)

// testDeadlines checks the deadline behaviour the session layer relies on to notice a
// stalled carrier and to stop its reader and writer goroutines.
func (s *suite) testDeadlines(t *testing.T) {
	tests := []struct {
		name  string
		check func(t *testing.T, client, server net.Conn)
	}{
		{"past read deadline times out Read", func(t *testing.T, client, server net.Conn) {
			client.SetReadDeadline(longAgo)
			r := wait(t, asyncRead(client, make([]byte, 10)), "Read with a past deadline")
			wantTimeout(t, "Read with a past deadline", r)
		}},
		{"past write deadline times out Write", func(t *testing.T, client, server net.Conn) {
			client.SetWriteDeadline(longAgo)
			written := make(chan ioResult, 1)
			go func() {
				n, err := client.Write([]byte("late"))
				written <- ioResult{n, err}
			}()
			wantTimeout(t, "Write with a past deadline", wait(t, written, "Write with a past deadline"))
		}},
		{"SetDeadline unblocks a blocked Read", func(t *testing.T, client, server net.Conn) {
			read := asyncRead(client, make([]byte, 10))
			time.Sleep(20 * time.Millisecond) // let the Read block; the check holds either way
			client.SetDeadline(time.Now())
			wantTimeout(t, "Read blocked when the deadline was set", wait(t, read, "Read after SetDeadline"))
		}},
		{"SetWriteDeadline unblocks a blocked Write", func(t *testing.T, client, server net.Conn) {
			// The server never reads, so buffers fill and a Write blocks.
			written := make(chan ioResult, 1)
			go func() {
				chunk := randomBytes(64 << 10)
				for {
					if n, err := client.Write(chunk); err != nil {
						written <- ioResult{n, err}
						return
					}
				}
			}()
			time.Sleep(50 * time.Millisecond)
			client.SetWriteDeadline(time.Now())
			r := wait(t, written, "Write after SetWriteDeadline")
			if !isTimeout(r.err) {
				t.Errorf("Write blocked when the deadline was set: got %v, want a net.Error with Timeout()", r.err)
			}
		}},
		{"extended read deadline lets Read wait", func(t *testing.T, client, server net.Conn) {
			client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			client.SetReadDeadline(time.Now().Add(hangTimeout))
			want := []byte("after the first deadline")
			go func() {
				time.Sleep(150 * time.Millisecond) // past the first deadline
				server.Write(want)
			}()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(client, got); err != nil {
				t.Fatalf("Read with an extended deadline: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Read with an extended deadline got %q, want %q", got, want)
			}
		}},
		{"Read works after a timeout once the deadline is cleared", func(t *testing.T, client, server net.Conn) {
			client.SetReadDeadline(longAgo)
			wantTimeout(t, "Read with a past deadline", wait(t, asyncRead(client, make([]byte, 10)), "Read"))
			client.SetReadDeadline(time.Time{})
			sendAndCheck(t, "server→client after a read timeout", server, client, randomBytes(1000))
			sendAndCheck(t, "client→server after a read timeout", client, server, randomBytes(1000))
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

func wantTimeout(t *testing.T, what string, r ioResult) {
	t.Helper()
	if !isTimeout(r.err) {
		t.Errorf("%s: got %d bytes, error %v; want a net.Error with Timeout()", what, r.n, r.err)
	}
	if r.n != 0 {
		t.Errorf("%s: got %d bytes, want none", what, r.n)
	}
}
