package lab

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/quicobfs"
)

// startUDPTap relays datagrams between one client and upstream, and returns the
// address the client dials and a func that returns the first datagram it sent.
func startUDPTap(t *testing.T, upstream string) (addr string, first func() []byte) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.Dial("udp", upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); up.Close() })
	var mu sync.Mutex
	var client net.Addr
	var firstDatagram []byte
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			if client == nil {
				client, firstDatagram = a, bytes.Clone(buf[:n])
			}
			mu.Unlock()
			up.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			a := client
			mu.Unlock()
			pc.WriteTo(buf[:n], a)
		}
	}()
	return pc.LocalAddr().String(), func() []byte {
		mu.Lock()
		defer mu.Unlock()
		if firstDatagram == nil {
			t.Fatal("the tap saw no datagram")
		}
		return firstDatagram
	}
}

func quicobfsDialer(t *testing.T, addr string, b bridge.Line) transports.Dialer {
	t.Helper()
	d, err := quicobfs.New().NewDialer(addr, b.Args)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// replayAnswered sends datagram to addr from a socket of its own, runs meanwhile (a
// fresh client's whole session, which the gateway handles after the replay), and
// reports whether anything came back to the replay's socket by then.
func replayAnswered(t *testing.T, addr string, datagram []byte, meanwhile func()) bool {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(datagram); err != nil {
		t.Fatal(err)
	}
	meanwhile()
	// An answer would have come before the later client's many round trips; the
	// deadline only leaves room for one already on its way.
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = c.Read(make([]byte, 2048))
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// TestQUICObfsReplayedFirstDatagramGetsSilence copies a client's first datagram on its
// way to the gateway, and replays it, as the GFW replays, after the client's session
// has ended: to the same gateway, and to the gateway restarted on its state
// directory. Neither answers, and both still serve a fresh client. A listener with the
// same key but a state directory of its own answers the copy: it is fresh, and only
// the replay filter keeps it unanswered.
func TestQUICObfsReplayedFirstDatagramGetsSilence(t *testing.T) {
	e := newEdge(t)
	listen := WithListener(quicobfs.New(), "127.0.0.1:0", "", nil)
	g := StartGateway(t, e.option, listen)
	b := g.Bridge()
	tap, first := startUDPTap(t, b.Addr)
	echoThroughSession(t, quicobfsDialer(t, tap, b), b)
	datagram := first()

	if replayAnswered(t, b.Addr, datagram, func() { echoThroughSession(t, quicobfsDialer(t, b.Addr, b), b) }) {
		t.Error("the gateway answered a replay of a closed connection's first datagram")
	}
	<-g.Drain()

	g = StartGateway(t, e.option, listen)
	rb := g.Bridge()
	if rb.Args["cert"] != b.Args["cert"] {
		t.Fatal("the restarted gateway has another quicobfs key")
	}
	if replayAnswered(t, rb.Addr, datagram, func() { echoThroughSession(t, quicobfsDialer(t, rb.Addr, rb), rb) }) {
		t.Error("the restarted gateway answered a replay of its last run's first datagram")
	}
	<-g.Drain()

	other := newEdge(t)
	keyFile := filepath.Join("listeners", "quicobfs-127.0.0.1_0", "quicobfs.key")
	key, err := os.ReadFile(filepath.Join(e.stateDir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Join(other.stateDir, keyFile)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other.stateDir, keyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	cb := StartGateway(t, other.option, listen).Bridge()
	if !replayAnswered(t, cb.Addr, datagram, func() { echoThroughSession(t, quicobfsDialer(t, cb.Addr, cb), cb) }) {
		t.Fatal("a listener with the key and no record of the datagram did not answer it: the test proves nothing")
	}
}
