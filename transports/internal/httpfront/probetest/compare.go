package probetest

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// Wait is how long a probe waits for the server to answer or hang up. It only draws
// the line between "at once" and "timeout": nginx's own timeouts are 5 s (for a body
// it discards) and 60 s, and its other reactions come within milliseconds.
const Wait = 3 * time.Second

// patience outlasts nginx's longest wait (60 s for a handshake or request head that
// never completes), for the probes that compare when a server gives up.
const patience = 75 * time.Second

// holdSlack is how far apart two servers may end the same wait and still look alike.
// A prober tells 60 s from 30 s; a loaded machine moves an end by milliseconds.
const holdSlack = 10 * time.Second

// Same reports whether a prober can tell the two reactions apart: the same first
// event, the same end, the same kind of answer (the same alert, the same status line),
// and for HTTP answers the same length. TLS handshakes are not compared byte for byte:
// Go's and OpenSSL's ServerHellos differ (see the package tests of transports/utls).
func Same(a, b Reaction) bool {
	if a.First != b.First || a.End != b.End || Describe(a.Head) != Describe(b.Head) {
		return false
	}
	return !isHTTP(a.Head) || a.N == b.N
}

// isHTTP reports whether head starts an HTTP answer, with a status line or, for
// HTTP/0.9, the page alone.
func isHTTP(head []byte) bool {
	return bytes.HasPrefix(head, []byte("HTTP/")) || bytes.HasPrefix(head, []byte("<html>"))
}

// Compare sends every probe to a real nginx at nginx and to the server at ours, and
// fails t for each probe the two meet differently.
func Compare(t *testing.T, nginx, ours string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // only keeps a hang from lasting
	defer cancel()
	probes := Probes()
	rs := ReactAll(ctx, []string{nginx, ours}, probes, Wait)
	for i, p := range probes {
		if !Same(rs[0][i], rs[1][i]) {
			t.Errorf("%s: nginx: %v; ours: %v", p.Name, rs[0][i], rs[1][i])
		}
	}
}

// CompareFront compares the front at ours with a real nginx serving serverName: probe
// by probe (Compare) and past nginx's own timeouts (CompareWaits), the two in parallel
// against the same nginx and front.
func CompareFront(t *testing.T, serverName, ours string) {
	t.Helper()
	nginx := Nginx(t, serverName)
	t.Run("reactions", func(t *testing.T) {
		t.Parallel()
		Compare(t, nginx, ours)
	})
	t.Run("waits", func(t *testing.T) {
		t.Parallel()
		CompareWaits(t, nginx, ours)
	})
}

// CompareWaits sends the probes that nginx meets with a wait (Wait passes without an
// answer or a close) again to both servers, now waiting past nginx's own timeouts,
// and fails t for each that our server ends differently or at another time: a
// server that waits for ever, or gives up at 30 s where nginx gives up at 60 s, is
// as plain to a patient prober as a wrong alert. It takes about a minute.
func CompareWaits(t *testing.T, nginx, ours string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*patience) // only keeps a hang from lasting
	defer cancel()
	var waiting []Probe
	probes := Probes()
	for i, r := range ReactAll(ctx, []string{nginx}, probes, Wait)[0] {
		if r.End == Timeout {
			waiting = append(waiting, probes[i])
		}
	}
	if len(waiting) == 0 {
		t.Fatal("nginx waited on none of the probes; its timeouts are left untested")
	}
	rs := ReactAll(ctx, []string{nginx, ours}, waiting, patience)
	for i, p := range waiting {
		n, o := rs[0][i], rs[1][i]
		if !Same(n, o) || (o.After-n.After).Abs() > holdSlack {
			t.Errorf("%s: nginx: %v after %v; ours: %v after %v", p.Name, n, n.After.Round(time.Second), o, o.After.Round(time.Second))
		}
	}
}
