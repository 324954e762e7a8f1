package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// bufferConn is a net.Conn over plain byte buffers, for record tests.
type bufferConn struct {
	r io.Reader
	w io.Writer
}

func (c bufferConn) Read(p []byte) (int, error)     { return c.r.Read(p) }
func (c bufferConn) Write(p []byte) (int, error)    { return c.w.Write(p) }
func (bufferConn) Close() error                     { return nil }
func (bufferConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (bufferConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (bufferConn) SetDeadline(time.Time) error      { return nil }
func (bufferConn) SetReadDeadline(time.Time) error  { return nil }
func (bufferConn) SetWriteDeadline(time.Time) error { return nil }

var (
	testRecordKey  = bytes.Repeat([]byte{1}, 32)
	testRecordMask = bytes.Repeat([]byte{2}, 32)
	otherKey       = bytes.Repeat([]byte{3}, 32)
)

// recordWriter returns a recordConn whose writes land in the returned buffer.
func recordWriter(t testing.TB) (*recordConn, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	w, err := newRecordConn(bufferConn{r: bytes.NewReader(nil), w: &buf}, aeadChaCha20Poly1305, otherKey, otherKey, testRecordKey, testRecordMask)
	if err != nil {
		t.Fatal(err)
	}
	return w, &buf
}

// recordReader returns a recordConn that reads wire from r with the writer's keys.
func recordReader(t testing.TB, r io.Reader) *recordConn {
	t.Helper()
	rc, err := newRecordConn(bufferConn{r: r, w: io.Discard}, aeadChaCha20Poly1305, testRecordKey, testRecordMask, otherKey, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func TestRecordsRoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		writes [][][]byte
	}{
		{"one byte", [][][]byte{{{7}}}},
		{"many small", func() (w [][][]byte) {
			for i := range 20 {
				w = append(w, [][]byte{randomBytes(i + 1)})
			}
			return w
		}()},
		{"larger than a record", [][][]byte{{randomBytes(3*maxRecordData + 17)}}},
		{"gathered buffers", [][][]byte{{randomBytes(8), randomBytes(maxRecordData - 8)}, {nil, randomBytes(3), nil}}},
		// The reader takes a small buffer for the first record and reads what follows
		// into it: the full records after it no longer fit.
		{"small records, then full ones", [][][]byte{{randomBytes(10)}, {randomBytes(smallBufSize - 100)}, {randomBytes(5*maxRecordData + 1)}, {randomBytes(3)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, wire := recordWriter(t)
			var want []byte
			for _, v := range tc.writes {
				n, err := w.WriteBuffers(v)
				if err != nil {
					t.Fatal(err)
				}
				before := len(want)
				for _, b := range v {
					want = append(want, b...)
				}
				if n != len(want)-before {
					t.Fatalf("WriteBuffers returned %d, want %d", n, len(want)-before)
				}
			}
			got, err := io.ReadAll(recordReader(t, wire))
			if err != nil {
				t.Fatalf("read records: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes back, want the %d written", len(got), len(want))
			}
		})
	}
}

func TestEarlyRecordsHaveRandomSizes(t *testing.T) {
	sizes := map[int]bool{}
	for range 20 {
		w, wire := recordWriter(t)
		w.Write([]byte("hello"))
		sizes[wire.Len()] = true
	}
	if len(sizes) < 2 {
		t.Fatalf("the first record of 20 connections always had %v bytes on the wire, want varied sizes", sizes)
	}

	// Past the first records, a record is exactly its data plus overhead.
	w, wire := recordWriter(t)
	for range paddedRecords {
		w.Write([]byte("x"))
	}
	wire.Reset()
	w.Write([]byte("hello"))
	if want := recordHeaderSize + frameHeaderSize + 5 + tagSize; wire.Len() != want {
		t.Fatalf("record %d of a 5-byte write is %d bytes on the wire, want %d", paddedRecords+1, wire.Len(), want)
	}
}

func TestBadRecordsKillTheConn(t *testing.T) {
	record := func(t *testing.T) []byte {
		w, wire := recordWriter(t)
		w.Write([]byte("some data"))
		return wire.Bytes()
	}
	masked := func(n int) []byte {
		mask := make([]byte, 2)
		d, _ := newDirection(aeadChaCha20Poly1305, testRecordKey, testRecordMask)
		d.mask.XORKeyStream(mask, mask)
		return []byte{byte(n>>8) ^ mask[0], byte(n) ^ mask[1]}
	}
	flip := func(at int) func(*testing.T) []byte {
		return func(t *testing.T) []byte {
			b := record(t)
			b[(at+len(b))%len(b)] ^= 0x40
			return b
		}
	}
	cases := []struct {
		name string
		wire func(*testing.T) []byte
		want error
		read int // bytes the reader may take from the carrier; -1 for any
	}{
		{"length byte flipped", flip(0), ErrRecord, -1},
		{"first ciphertext byte flipped", flip(recordHeaderSize), ErrRecord, -1},
		{"tag byte flipped", flip(-1), ErrRecord, -1},
		{"oversized length", func(*testing.T) []byte { return append(masked(0xffff), randomBytes(100)...) }, ErrRecord, 2},
		{"length just over the maximum", func(*testing.T) []byte { return append(masked(maxRecordCiphertext+1), randomBytes(100)...) }, ErrRecord, 2},
		{"length too short for a tag", func(*testing.T) []byte { return append(masked(tagSize), randomBytes(100)...) }, ErrRecord, 2},
		{"cut inside a record", func(t *testing.T) []byte { b := record(t); return b[:len(b)-1] }, io.ErrUnexpectedEOF, -1},
		{"cut inside a header", func(t *testing.T) []byte { return record(t)[:1] }, io.ErrUnexpectedEOF, -1},
		{"nothing", func(*testing.T) []byte { return nil }, io.EOF, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := bytes.NewReader(tc.wire(t))
			rc := recordReader(t, src)
			_, err := io.ReadAll(rc)
			if tc.want == io.EOF {
				if err != nil {
					t.Fatalf("read: %v, want a clean end", err)
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("read: %v, want %v", err, tc.want)
			}
			if tc.read >= 0 {
				if taken := int(src.Size()) - src.Len(); taken > tc.read {
					t.Errorf("reader took %d bytes from the carrier, want at most %d", taken, tc.read)
				}
			}
			if _, again := rc.Read(make([]byte, 10)); again == nil {
				t.Error("a read after the failure succeeded")
			}
			if rc.rbuf != nil {
				t.Error("a failed reader still holds a pooled buffer")
			}
		})
	}
}

func TestRecordsUnderAnotherKeyFail(t *testing.T) {
	w, wire := recordWriter(t)
	w.Write([]byte("secret"))
	rc, err := newRecordConn(bufferConn{r: wire, w: io.Discard}, aeadChaCha20Poly1305, otherKey, testRecordMask, otherKey, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrRecord) {
		t.Fatalf("read under another key: %v, want ErrRecord", err)
	}
}

func TestIdleReaderHoldsNoBuffer(t *testing.T) {
	w, wire := recordWriter(t)
	w.Write([]byte("abc"))
	rc := recordReader(t, wire)
	got := make([]byte, 3)
	if _, err := io.ReadFull(rc, got); err != nil {
		t.Fatal(err)
	}
	if rc.rbuf != nil {
		t.Fatal("reader holds a pooled buffer after draining every record")
	}
}

// flipConn flips one bit of the next write once armed.
type flipConn struct {
	net.Conn
	armed atomic.Bool
}

func (c *flipConn) Write(p []byte) (int, error) {
	if c.armed.CompareAndSwap(true, false) {
		q := append([]byte(nil), p...)
		q[len(q)/2] ^= 1
		return c.Conn.Write(q)
	}
	return c.Conn.Write(p)
}

func TestTamperedRecordKillsTheSession(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			checkGoroutines(t)
			cc, sc := testConfigs()
			cconn, sconn := c.pair(t)
			fc := &flipConn{Conn: sconn}
			ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
			defer cancel()
			srv := make(chan *Session, 1)
			go func() {
				s, _, err := Server(ctx, fc, sc)
				if err != nil {
					t.Errorf("Server: %v", err)
					sconn.Close()
				}
				srv <- s
			}()
			client, err := Client(ctx, cconn, cc)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server := <-srv
			if server == nil {
				return
			}
			defer server.Close()
			go serveTest(server)

			fc.armed.Store(true) // the gateway's reply to the stream is tampered with
			_, err = client.OpenStream(ctx, "echo")
			if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrRecord) {
				t.Errorf("OpenStream over a tampered record: %v, want ErrClosed and ErrRecord", err)
			}
			waitDone(t, "client", client)
			if !errors.Is(client.Err(), ErrRecord) {
				t.Errorf("client Err() = %v, want ErrRecord", client.Err())
			}
			waitDone(t, "gateway", server)
		})
	}
}

func TestLengthFieldIsMasked(t *testing.T) {
	w, wire := recordWriter(t)
	for range paddedRecords {
		w.Write([]byte("x"))
	}
	wire.Reset()
	w.Write([]byte("hello"))
	b := wire.Bytes()
	if n := int(binary.BigEndian.Uint16(b)); n == len(b)-recordHeaderSize {
		t.Fatalf("a record's length field reads %d in clear, want it masked", n)
	}
}

// writeSizes records the size of each write to it.
type writeSizes struct{ sizes []int }

func (w *writeSizes) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return len(p), nil
}

// TestFullBatchIsWholeTLSRecords: after the padded opening, a writer's full batch,
// with the control records before it, goes to the carrier as one write of exactly
// four 16 KiB records, which a TLS carrier sends as four full TLS records.
func TestFullBatchIsWholeTLSRecords(t *testing.T) {
	for _, ctl := range [][]control{nil, {{typ: frameAck, a: 1}}, {{typ: frameAck, a: 1}, {typ: framePing, a: 2}, {typ: frameOffset}}} {
		w := &writeSizes{}
		rc, err := newRecordConn(bufferConn{r: bytes.NewReader(nil), w: w}, aeadAES256GCM, otherKey, otherKey, testRecordKey, testRecordMask)
		if err != nil {
			t.Fatal(err)
		}
		rc.wr.seq = paddedRecords // the opening is over
		data := make([]byte, maxBatch-controlWire(ctl))
		if _, err := rc.send(ctl, [][]byte{data[:1000], data[1000:]}); err != nil {
			t.Fatal(err)
		}
		if len(w.sizes) != 1 || w.sizes[0] != 4*sendRecordWire {
			t.Errorf("%d control records: writes of %v bytes, want one of %d", len(ctl), w.sizes, 4*sendRecordWire)
		}
	}
}

// TestSendIsOneWrite: a writer's batch goes to the carrier in one write, whether it
// fits a small buffer or takes a big one, in the padded opening or after it.
func TestSendIsOneWrite(t *testing.T) {
	acks := []control{{typ: frameAck, a: 1}, {typ: framePing, a: 2}}
	for _, opening := range []bool{true, false} {
		for _, n := range []int{0, 1, 1000, smallBufSize - 200, smallBufSize, 3 * smallBufSize, maxBatch - controlWire(acks)} {
			w := &writeSizes{}
			rc, err := newRecordConn(bufferConn{r: bytes.NewReader(nil), w: w}, aeadAES256GCM, otherKey, otherKey, testRecordKey, testRecordMask)
			if err != nil {
				t.Fatal(err)
			}
			if !opening {
				rc.wr.seq = paddedRecords
			}
			if _, err := rc.send(acks, [][]byte{make([]byte, n)}); err != nil {
				t.Fatal(err)
			}
			if len(w.sizes) != 1 {
				t.Errorf("opening %v, %d data bytes after an ack and a ping: writes of %v bytes, want one", opening, n, w.sizes)
			}
		}
	}
}
