package lab

import (
	"context"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestAFloodLocksNoOneOut is issue 10's lock-out, scaled up: 5,000 idle connections
// and 200 new junk connections a second from 20 addresses on the tcp, utls and obfs4
// listeners and on the websocket listener behind the CDN (at its own address, as an
// attacker who found the origin would). Meanwhile 100 chatters, connected before,
// lose no message, and new clients get in on every listener. The times go to
// umbrella-bench's flood rows.
func TestAFloodLocksNoOneOut(t *testing.T) {
	// Both ends of every connection live in this process: the flood's 5,000 idle and
	// up to 800 junk connections, twice, and the chatters' through the censor.
	if limit, err := RaiseFileLimit(65536); limit < 16384 {
		t.Fatalf("the flood needs 16,384 descriptors, the limit is %d: %v", limit, err)
	}
	l := startLab(t, Options{Transports: []string{"tcp", "utls", "obfs4", "websocket"}})
	lines := append(routes(l, "tcp", "utls", "obfs4"), routes(l, "websocket"+CDNSuffix)...)
	if len(lines) != 4 {
		t.Fatalf("the lab has %d of the 4 lines under test", len(lines))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // only keeps a broken run from hanging
	defer cancel()
	rep, err := l.RunFlood(ctx, DefaultFlood(lines))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range rep.AdmitErrs {
		t.Errorf("a new client under the flood: %v", err)
	}
	for route, results := range rep.Chat {
		for i, r := range results {
			if r.Err != nil || r.Sent == 0 || r.Received != r.Sent {
				t.Errorf("chatter %d on %s: sent %d, echoed %d, fault: %v", i, route, r.Sent, r.Received, r.Err)
			}
		}
	}
	if rep.Flood.Junked < 1000 {
		t.Errorf("the flood opened %d junk connections, want the thousands of 200 a second", rep.Flood.Junked)
	}
	// The flood did fill the listeners: each pushed peers out.
	metrics := scrape(l)
	for _, transport := range []string{"tcp", "utls", "obfs4", "websocket"} {
		if n := series(metrics, fmt.Sprintf(`umbrella_gateway_admission_drops_total{reason="evicted",transport=%q}`, transport)); n == 0 {
			t.Errorf("%s: no peer was evicted; the flood did not fill its places", transport)
		}
	}
	if grown := int64(rep.Peak.InUse()) - int64(rep.Base.InUse()); grown > floodMemoryBound {
		t.Errorf("heap and stacks grew by %d MiB under the flood, above the %d MiB bound", grown>>20, floodMemoryBound>>20)
	}
	t.Logf("flood: %+v; memory before %+v, at peak %+v; admitted: %v", rep.Flood, rep.Base, rep.Peak, rep.Admitted)
}

// floodMemoryBound bounds the growth of this process's Go heap and stacks under
// DefaultFlood. Both ends of every connection live here. The gateway holds at most
// 4 listeners × 1,024 handshake places + 4,096 held peers = 8,192 peers however big
// the flood, each allowed 24 KiB (two goroutines' stacks of up to 8 KiB, its conn
// state and buffers); the flood's side of its at most 5,800 connections (5,000 idle,
// 800 junk) 12 KiB each (a goroutine and a conn).
const floodMemoryBound = (4*1024+4096)*24<<10 + 5800*12<<10

// scrape returns the gateway's /metrics.
func scrape(l *Lab) string {
	rec := httptest.NewRecorder()
	l.Gateway.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// series is the value of one series in metrics; 0 when absent.
func series(metrics, name string) int {
	m := regexp.MustCompile(regexp.QuoteMeta(name) + ` (\d+)`).FindStringSubmatch(metrics)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
