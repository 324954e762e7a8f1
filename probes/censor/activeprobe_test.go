package censor

import (
	"crypto/rand"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// answersRandom is a server that answers whatever it reads with random bytes, as an
// unprotected proxy does: a prober tells it apart from an unrelated server.
func answersRandom(conn net.Conn) {
	b := make([]byte, 4096)
	for {
		if _, err := conn.Read(b); err != nil {
			return
		}
		rand.Read(b[:64])
		if _, err := conn.Write(b[:64]); err != nil {
			return
		}
	}
}

// readsAndDiscards is what a probe-resistant gateway shows a prober.
func readsAndDiscards(conn net.Conn) { io.Copy(io.Discard, conn) }

func TestActiveProbeFlagsAServerThatAnswersProbes(t *testing.T) {
	// It waits out timeouts or a rate window: let the other tests run meanwhile.
	t.Parallel()
	probe := &ActiveProbe{Wait: 3 * time.Second, Random: 2}
	proxy := startServer(t, "127.0.0.2", answersRandom)
	gateway := startServer(t, "127.0.0.3", readsAndDiscards)
	c := startCensor(t, []Route{tcpRoute("proxy", "shadowsocks", proxy), tcpRoute("gw", "obfs4", gateway)}, probe)

	first := dial(t, listenAddr(t, c, "proxy"))
	first.Write(highEntropy(300))
	if _, err := io.ReadFull(first, make([]byte, 64)); err != nil {
		t.Fatalf("the first flow should pass while probes run: %v", err)
	}
	quiet := dial(t, listenAddr(t, c, "gw"))
	quiet.Write(highEntropy(300))

	flagged := waitDecision(t, c, func(d Decision) bool {
		return d.Policy == "active-probe" && d.Verdict == Drop && d.Flow.Route == "proxy" && strings.Contains(d.Reason, "answered data")
	})
	t.Logf("flagged: %s", flagged.Reason)
	// The running flow to the flagged server is cut, silently.
	waitDecision(t, c, func(d Decision) bool {
		return d.Policy == "active-probe" && d.Verdict == Drop && d.Flow.ID == flagged.Flow.ID && strings.Contains(d.Reason, "flagged")
	})
	first.Write([]byte("more"))
	expectSilence(t, first)
	// New flows to it are dropped at once.
	again := dial(t, listenAddr(t, c, "proxy"))
	again.Write([]byte("x"))
	waitDecision(t, c, func(d Decision) bool {
		return d.Policy == "active-probe" && d.Verdict == Drop && d.Flow.ID > flagged.Flow.ID && d.Flow.Route == "proxy"
	})
	expectSilence(t, again)

	// The gateway met the probes as an unrelated server does, and stays reachable.
	waitDecision(t, c, func(d Decision) bool {
		return d.Policy == "active-probe" && d.Verdict == Pass && d.Flow.Route == "gw"
	})
	for _, st := range c.Flows() {
		if st.Route == "gw" && st.Stopped {
			t.Fatalf("the probe-resistant gateway's flow was cut: %+v", st)
		}
	}
}

func TestReactionsAreClassifiedAsFrolovEtAl(t *testing.T) {
	// It waits out timeouts or a rate window: let the other tests run meanwhile.
	t.Parallel()
	// A server that closes with unread bytes sends RST, so this one reads the probe first.
	closes := startServer(t, "127.0.0.2", func(conn net.Conn) { io.ReadFull(conn, make([]byte, 5)) })
	resets := startServer(t, "127.0.0.2", func(conn net.Conn) {
		conn.Read(make([]byte, 1))
		conn.(*net.TCPConn).SetLinger(0)
	})
	answers := startServer(t, "127.0.0.2", answersRandom)
	silent := startServer(t, "127.0.0.2", readsAndDiscards)
	refused := func() string { // a port nobody listens on any more
		ln, _ := net.Listen("tcp", "127.0.0.2:0")
		ln.Close()
		return ln.Addr().String()
	}()
	c := startCensor(t, []Route{tcpRoute("x", "x", silent)})
	tests := []struct {
		addr string
		want reaction
	}{
		{closes, reactFIN},
		{resets, reactRST},
		{answers, reactData},
		{silent, reactTimeout},
		{refused, reactRefused},
	}
	for _, tt := range tests {
		if got := c.probes.react(mustAddrPort(t, tt.addr), []byte("probe"), 3*time.Second); got != tt.want {
			t.Errorf("reaction of the %s server = %s", tt.want, got)
		}
	}
}
