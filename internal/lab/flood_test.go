package lab

import (
	"context"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/gateway/limits"
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
	// Under the race detector (make test) every goroutine runs several times slower,
	// the flood's as much as the gateway's: a fifth of the flood against a fifth of
	// the places keeps the same pressure. umbrella-bench runs it whole.
	scale := 1
	if raceEnabled {
		scale = 5
	}
	l := startLab(t, Options{Transports: []string{"tcp", "utls", "obfs4", "websocket"},
		MaxHandshakes: limits.DefaultMaxHandshakes / scale, FirstBytesTimeout: FloodFirstBytesTimeout})
	lines := append(routes(l, "tcp", "utls", "obfs4"), routes(l, "websocket"+CDNSuffix)...)
	if len(lines) != 4 {
		t.Fatalf("the lab has %d of the 4 lines under test", len(lines))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // only keeps a broken run from hanging
	defer cancel()
	sc := DefaultFlood(lines).Scaled(scale)
	rep, err := l.RunFlood(ctx, sc)
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
	if want := int64(sc.Flood.JunkRate) * int64(sc.Duration/time.Second) / 2; rep.Flood.Junked < want {
		t.Errorf("the flood opened %d junk connections, want at least %d (%d a second)", rep.Flood.Junked, want, sc.Flood.JunkRate)
	}
	// The flood did fill the listeners: each pushed peers out.
	metrics := scrape(l)
	for _, transport := range []string{"tcp", "utls", "obfs4", "websocket"} {
		if n := series(metrics, fmt.Sprintf(`umbrella_gateway_admission_drops_total{reason="evicted",transport=%q}`, transport)); n == 0 {
			t.Errorf("%s: no peer was evicted; the flood did not fill its places", transport)
		}
	}
	bound := floodMemoryBound(limits.DefaultMaxHandshakes/scale, sc.Flood.Idle+4*sc.Flood.JunkRate)
	if grown := int64(rep.Peak.InUse()) - int64(rep.Base.InUse()); grown > bound {
		t.Errorf("heap and stacks grew by %d MiB under the flood, above the %d MiB bound", grown>>20, bound>>20)
	}
	t.Logf("flood: %+v; memory before %+v, at peak %+v; admitted: %v", rep.Flood, rep.Base, rep.Peak, rep.Admitted)
}

// floodMemoryBound bounds the growth of this process's Go heap and stacks under a
// flood of floodConns connections (idle and at most 4·JunkRate junk ones) on 4
// listeners of places handshake places each. Both ends of every connection live
// here. The gateway holds at most 4·places + 4,096 held peers however big the flood,
// each allowed 24 KiB (two goroutines' stacks of up to 8 KiB, its conn state and
// buffers); the flood's side of each of its connections 12 KiB (a goroutine and a
// conn). At full scale that is 192 + 68 = 260 MiB.
func floodMemoryBound(places, floodConns int) int64 {
	return int64(4*places+limits.DefaultMaxHeld)*24<<10 + int64(floodConns)*12<<10
}

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
