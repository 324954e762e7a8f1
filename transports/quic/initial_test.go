package quic

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// firstFlight dials a UDP socket that never answers and returns the datagrams the
// client sent before its dial gave up.
func firstFlight(t *testing.T) [][]byte {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	d, err := New(nil).NewDialer(pc.LocalAddr().String(), transports.Args{argServerName: testServerName})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if c, err := d.Dial(ctx); err == nil {
		c.Close()
		t.Fatal("Dial to a silent peer succeeded")
	}
	var got [][]byte
	buf := make([]byte, 64<<10)
	for {
		pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) // the datagrams are already queued
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return got
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
}

// TestInitialsArePaddedAsChromesAre checks that every datagram of the client's first
// flight is a QUIC v1 Initial padded to 1250 bytes of UDP payload, as Chrome's are.
func TestInitialsArePaddedAsChromesAre(t *testing.T) {
	flight := firstFlight(t)
	if len(flight) == 0 {
		t.Fatal("the client sent nothing")
	}
	for i, d := range flight {
		if len(d) != chromeInitialSize {
			t.Errorf("datagram %d is %d bytes; want %d", i, len(d), chromeInitialSize)
		}
		if len(d) < 7 || d[0]&0xf0 != 0xc0 || binary.BigEndian.Uint32(d[1:5]) != 1 {
			t.Fatalf("datagram %d starts %x; want a QUIC v1 Initial (0xc?, version 1)", i, d[:min(len(d), 7)])
		}
	}
	t.Logf("first flight: %d datagrams; DCID %d bytes, SCID %d bytes", len(flight), flight[0][5], flight[0][6+int(flight[0][5])])
}

func TestHandshakeTimeoutScalesWithTheRTT(t *testing.T) {
	var d Dialer
	if got := d.HandshakeTimeout(); got != handshakeUnknownRTT {
		t.Fatalf("before any handshake: %v; want %v", got, handshakeUnknownRTT)
	}
	tests := []struct {
		rtt, want time.Duration
	}{
		{50 * time.Microsecond, handshakeMin},
		{200 * time.Millisecond, 2 * time.Second},
		{2 * time.Second, handshakeMax},
	}
	for _, tt := range tests {
		d.lastRTT.Store(int64(tt.rtt))
		if got := d.HandshakeTimeout(); got != tt.want {
			t.Errorf("after a %v round trip: %v; want %v", tt.rtt, got, tt.want)
		}
	}
}

func TestDialLearnsTheRTT(t *testing.T) {
	ln := listenLoopback(t)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	d := dialerFor(t, ln)
	c, err := d.Dial(testContext(t))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
	// Loopback's round trip is far below a second: the floor applies.
	if got := d.HandshakeTimeout(); got != handshakeMin {
		t.Fatalf("after a loopback handshake: %v; want %v", got, handshakeMin)
	}
}
