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
