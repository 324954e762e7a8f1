package transporttest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// roundTripSizes straddle the record and frame sizes transports commonly use (TLS
// records of 16 KiB, 1400-byte datagrams, 64 KiB buffers), so a boundary bug shows.
var roundTripSizes = []int{1, 2, 100, 1399, 1400, 1401, 4096, 16383, 16384, 16385, 65535, 65536, 65537, 300_000}

// testRoundTrip sends random data each way in turn, one size at a time, on one conn.
func (s *suite) testRoundTrip(t *testing.T) {
	e := s.begin(t)
	client, server := e.connect()
	for _, n := range roundTripSizes {
		sendAndCheck(t, "client→server", client, server, randomBytes(n))
		sendAndCheck(t, "server→client", server, client, randomBytes(n))
	}
}

// sendAndCheck writes data on from and reads exactly len(data) bytes on to.
func sendAndCheck(t *testing.T, dir string, from, to net.Conn, data []byte) {
	t.Helper()
	wrote := async(func() error {
		_, err := from.Write(data)
		return err
	})
	got := make([]byte, len(data))
	if _, err := io.ReadFull(to, got); err != nil {
		t.Fatalf("%s: reading %d bytes: %v", dir, len(data), err)
	}
	if err := wait(t, wrote, dir+" Write"); err != nil {
		t.Fatalf("%s: writing %d bytes: %v", dir, len(data), err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%s: %d bytes arrived changed (first difference at byte %d)", dir, len(data), firstDiff(got, data))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// largeTransfer is how much each side sends in testLargeTransfer: enough to pass any
// window, buffer or freeze threshold (censors freeze flows after 16–20 KB) many times.
func (s *suite) largeTransfer() int64 {
	if s.opts.LargeTransfer > 0 {
		return s.opts.LargeTransfer
	}
	if testing.Short() {
		return 1 << 20
	}
	return 16 << 20
}

// testLargeTransfer streams largeTransfer bytes each way at once and compares hashes,
// which catches loss, reordering and deadlock between reader and writer.
func (s *suite) testLargeTransfer(t *testing.T) {
	e := s.begin(t)
	client, server := e.connect()
	n := s.largeTransfer()

	type result struct {
		what string
		sum  [sha256.Size]byte
		err  error
	}
	results := make(chan result, 4)
	run := func(what string, f func() ([sha256.Size]byte, error)) {
		go func() {
			sum, err := f()
			if err != nil {
				// Unblock the other three so the failure is reported, not a hang.
				client.Close()
				server.Close()
			}
			results <- result{what, sum, err}
		}()
	}
	up, down := rand.Uint64(), rand.Uint64()
	run("client write", func() ([sha256.Size]byte, error) { return stream(client, up, n) })
	run("server read", func() ([sha256.Size]byte, error) { return drain(server, n) })
	run("server write", func() ([sha256.Size]byte, error) { return stream(server, down, n) })
	run("client read", func() ([sha256.Size]byte, error) { return drain(client, n) })

	sums := make(map[string][sha256.Size]byte)
	for range 4 {
		r := wait(t, results, "large transfer")
		if r.err != nil {
			t.Errorf("%s of %d bytes: %v", r.what, n, r.err)
		}
		sums[r.what] = r.sum
	}
	if t.Failed() {
		return
	}
	if sums["client write"] != sums["server read"] {
		t.Errorf("client→server: %d bytes arrived with a different hash", n)
	}
	if sums["server write"] != sums["client read"] {
		t.Errorf("server→client: %d bytes arrived with a different hash", n)
	}
}

// stream writes n pseudo-random bytes from seed to w and returns their hash.
func stream(w io.Writer, seed uint64, n int64) ([sha256.Size]byte, error) {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	h := sha256.New()
	src := io.LimitReader(rand.NewChaCha8(key), n)
	_, err := io.CopyBuffer(io.MultiWriter(w, h), src, make([]byte, 32<<10))
	return [sha256.Size]byte(h.Sum(nil)), err
}

// drain reads exactly n bytes from r and returns their hash.
func drain(r io.Reader, n int64) ([sha256.Size]byte, error) {
	h := sha256.New()
	got, err := io.CopyN(h, r, n)
	if err != nil {
		err = fmt.Errorf("after %d bytes: %w", got, err)
	}
	return [sha256.Size]byte(h.Sum(nil)), err
}

// concurrentConns is how many conns testConcurrentConns holds open at once.
const concurrentConns = 32

// testConcurrentConns opens many conns at once, each echoing its own data, which
// catches conns that share state or a listener that serialises handshakes.
func (s *suite) testConcurrentConns(t *testing.T) {
	e := s.begin(t)

	var echoes sync.WaitGroup
	defer echoes.Wait()
	accepting := async(func() error {
		for range concurrentConns {
			c, err := e.ln.Accept()
			if err != nil {
				return err
			}
			e.track(c)
			echoes.Go(func() {
				io.Copy(c, c)
				c.Close()
			})
		}
		return nil
	})

	var clients sync.WaitGroup
	for i := range concurrentConns {
		clients.Go(func() {
			if err := e.echoOnce(randomBytes(32 << 10)); err != nil {
				t.Errorf("conn %d: %v", i, err)
			}
		})
	}
	clients.Wait()
	if t.Failed() {
		e.ln.Close() // some conns never came: stop waiting for them
	}
	if err := wait(t, accepting, "Accept"); err != nil {
		t.Fatalf("Accept: %v", err)
	}
}

// echoOnce dials, sends data, reads it back from an echoing server, and closes.
func (e *env) echoOnce(data []byte) error {
	ctx, cancel := contextWithHangTimeout(e.t)
	defer cancel()
	c, err := e.d.Dial(ctx)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	e.track(c)
	defer c.Close()
	wrote := async(func() error {
		_, err := c.Write(data)
		return err
	})
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("reading the echo of %d bytes: %w", len(data), err)
	}
	if err := <-wrote; err != nil {
		return fmt.Errorf("writing %d bytes: %w", len(data), err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("echo of %d bytes came back changed (first difference at byte %d)", len(data), firstDiff(got, data))
	}
	return nil
}
