package quicobfs

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/replay"
)

// testClock is a settable clock for a listener's side of the mask.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// maskedPair returns a listener's masked socket and a plain socket to send it raw
// datagrams from.
func maskedPair(t *testing.T, m *masker, clock *testClock) (server net.PacketConn, send func([]byte)) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	filter := replay.New(replay.Config{Now: clock.now})
	server = m.server(filter, clock.now)(pc)
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); c.Close(); filter.Close() })
	return server, func(d []byte) {
		if _, err := c.Write(d); err != nil {
			t.Fatal(err)
		}
	}
}

// readOne returns the next datagram the masked socket admits.
func readOne(t *testing.T, pc net.PacketConn) []byte {
	t.Helper()
	pc.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, maxDatagram)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("ReadFrom: %v", err)
	}
	return buf[:n]
}

// TestListenerAdmitsEachStampedInitialOnce sends the listener's socket one datagram
// of each kind, then a marker (a short-header packet, which needs no stamp): the
// socket returns the datagram's packet first when it admits it, and the marker first
// when it drops it.
func TestListenerAdmitsEachStampedInitialOnce(t *testing.T) {
	m := testMasker(t)
	start := time.Unix(1_800_000_000, 0)
	clock := &testClock{t: start}
	server, send := maskedPair(t, m, clock)
	initial := longHeader(1230)
	short := append([]byte{0x41}, bytes.Repeat([]byte{0x33}, 40)...)
	marker := append([]byte{0x41}, bytes.Repeat([]byte{0x5a}, 40)...)

	first := m.sealStamped(nil, initial, start)
	tampered := bytes.Clone(first)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name     string
		datagram []byte
		packet   []byte // what the socket returns when it admits the datagram
		later    time.Duration
		admitted bool
	}{
		{"a stamped Initial", first, initial, 0, true},
		{"the same datagram again", first, initial, 0, false},
		{"the same datagram a minute later", first, initial, time.Minute, false},
		{"another stamped Initial", m.sealStamped(nil, initial, start), initial, 0, true},
		{"an Initial stamped two minutes ago", m.sealStamped(nil, initial, start.Add(-freshness)), initial, 0, true},
		{"an Initial stamped two minutes ahead", m.sealStamped(nil, initial, start.Add(freshness)), initial, 0, true},
		{"an Initial stamped too long ago", m.sealStamped(nil, initial, start.Add(-freshness-time.Second)), initial, 0, false},
		{"an Initial stamped too far ahead", m.sealStamped(nil, initial, start.Add(freshness+time.Second)), initial, 0, false},
		{"a stamp that does not authenticate", tampered, initial, 0, false},
		{"an Initial without a stamp (version 1)", m.seal(nil, initial), initial, 0, false},
		{"an Initial too short for a stamp", m.seal(nil, longHeader(minPacket+stampSize-1)), nil, 0, false},
		{"a short-header packet, never stamped", m.seal(nil, short), short, 0, true},
	}
	for _, tt := range tests {
		clock.set(start.Add(tt.later))
		send(tt.datagram)
		send(m.seal(nil, marker))
		got := readOne(t, server)
		switch {
		case tt.admitted && !bytes.Equal(got, tt.packet):
			t.Errorf("%s: read %d bytes (%x…); want the datagram's packet", tt.name, len(got), got[:4])
		case !tt.admitted && !bytes.Equal(got, marker):
			t.Errorf("%s: read %d bytes (%x…); want it dropped and the marker next", tt.name, len(got), got[:4])
		}
		if !bytes.Equal(got, marker) {
			if got := readOne(t, server); !bytes.Equal(got, marker) {
				t.Fatalf("%s: then read %d bytes; want the marker", tt.name, len(got))
			}
		}
	}
}

// TestClientStampsOnlyInitials checks what a client's socket sends: an Initial with a
// stamp of its clock that authenticates, anything else masked as it was.
func TestClientStampsOnlyInitials(t *testing.T) {
	m := testMasker(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	client := m.client(pc)
	short := append([]byte{0x41}, make([]byte, 40)...)
	for _, p := range [][]byte{longHeader(1200), short} {
		before := time.Now()
		if _, err := client.WriteTo(p, raw.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		raw.SetReadDeadline(time.Now().Add(hangGuard))
		d := make([]byte, 2048)
		n, _, err := raw.ReadFrom(d)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := m.open(make([]byte, n), d[:n])
		if !isInitial(p) {
			if !bytes.Equal(got, p) {
				t.Errorf("a short-header packet went out as %d bytes; want it masked alone", len(got))
			}
			continue
		}
		if len(got) != len(p)+stampSize || !bytes.Equal(got[:len(p)], p) {
			t.Fatalf("an Initial of %d bytes went out as %d; want it followed by a %d-byte stamp", len(p), len(got), stampSize)
		}
		stamp := got[len(p):]
		ts := time.Unix(int64(binary.BigEndian.Uint64(stamp)), 0)
		if ts.Before(before.Truncate(time.Second)) || ts.After(time.Now()) {
			t.Errorf("stamp time %v; want the client's clock (%v)", ts, before)
		}
		if !bytes.Equal(stamp[8:], m.stampTag(d[:saltSize], uint64(ts.Unix()))) {
			t.Error("the stamp's tag does not authenticate its salt and time")
		}
	}
}

// FuzzAdmit feeds a listener's stamp check arbitrary unmasked Initials: it never
// panics, and admits only what a stamp of this key authenticates, once.
func FuzzAdmit(f *testing.F) {
	m := testMasker(f)
	now := time.Unix(1_800_000_000, 0)
	stamped := m.sealStamped(nil, longHeader(1200), now)
	f.Add(stamped)
	f.Add(m.seal(nil, longHeader(1200)))
	f.Add(stamped[:saltSize+minPacket+stampSize])
	f.Add(make([]byte, saltSize+minPacket+stampSize))
	f.Fuzz(func(t *testing.T, d []byte) {
		if len(d) < saltSize {
			return
		}
		c := &maskedConn{m: m, filter: replay.New(replay.Config{Now: func() time.Time { return now }}), now: func() time.Time { return now }}
		p, ok := m.open(make([]byte, len(d)), d)
		if !ok || !isInitial(p) {
			return
		}
		packet, ok := c.admit(p, d[:saltSize])
		if !ok {
			return
		}
		stamp := p[len(packet):]
		if len(stamp) != stampSize || !bytes.Equal(stamp[8:], m.stampTag(d[:saltSize], binary.BigEndian.Uint64(stamp))) {
			t.Fatalf("admitted a datagram whose stamp does not authenticate")
		}
		if _, again := c.admit(p, d[:saltSize]); again {
			t.Fatal("admitted the same datagram twice")
		}
	})
}
