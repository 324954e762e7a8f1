package client

import (
	"github.com/umbrella-edge/edge/session"
	"strings"
	"testing"
	"time"
)

func TestStallTimeoutScalesWithRTT(t *testing.T) {
	for _, tc := range []struct{ srtt, want time.Duration }{
		{0, 5 * time.Second}, // no sample yet: RFC 6298's 1 s
		{10 * time.Millisecond, 2 * time.Second},
		{250 * time.Millisecond, 2 * time.Second},
		{500 * time.Millisecond, 3 * time.Second},
		{2 * time.Second, 9 * time.Second},
		{10 * time.Second, 20 * time.Second},
	} {
		if got := stallTimeout(tc.srtt); got != tc.want {
			t.Errorf("stallTimeout(%v) = %v, want %v", tc.srtt, got, tc.want)
		}
	}
}

func TestWatchdog(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const srtt = 100 * time.Millisecond // limit 2 s
	type sample struct {
		at   time.Duration
		p    session.Progress
		dead bool
	}
	idle := session.Progress{LastProgress: at(0), SRTT: srtt}
	pending := func(last time.Duration) session.Progress {
		return session.Progress{Unacked: 4096, LastProgress: at(last), SRTT: srtt}
	}
	ping := func(last time.Duration) session.Progress {
		return session.Progress{PingOutstanding: true, LastProgress: at(last), SRTT: srtt}
	}
	for _, tc := range []struct {
		name    string
		samples []sample
	}{
		{"an idle carrier is never dead", []sample{
			{0, idle, false}, {time.Minute, idle, false}, {time.Hour, idle, false}}},
		{"data pending with no progress past the limit", []sample{
			{0, pending(0), false}, {time.Second, pending(0), false},
			{1999 * time.Millisecond, pending(0), false}, {2 * time.Second, pending(0), true}}},
		{"an unanswered ping counts as pending", []sample{
			{0, ping(0), false}, {2 * time.Second, ping(0), true}}},
		{"progress restarts the wait", []sample{
			{0, pending(0), false}, {1500 * time.Millisecond, pending(1400 * time.Millisecond), false},
			{3 * time.Second, pending(1400 * time.Millisecond), false},
			{3400 * time.Millisecond, pending(1400 * time.Millisecond), true}}},
		{"data sent after a long idle time gets its own wait", []sample{
			{time.Hour, pending(0), false}, {time.Hour + time.Second, pending(0), false},
			{time.Hour + 2*time.Second, pending(0), true}}},
		{"acknowledged data ends the wait", []sample{
			{0, pending(0), false}, {1900 * time.Millisecond, idle, false},
			{2 * time.Second, pending(0), false}, {3 * time.Second, pending(0), false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w watchdog
			for i, s := range tc.samples {
				err := w.check(s.p, at(s.at))
				if (err != nil) != s.dead {
					t.Fatalf("sample %d at %v: dead = %v (%v), want %v", i, s.at, err != nil, err, s.dead)
				}
				if err != nil && !strings.Contains(err.Error(), "carrier stalled") {
					t.Errorf("error %q should say the carrier stalled", err)
				}
			}
		})
	}
}

func TestCarriedData(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in, out uint64
		unacked uint64
		want    bool
	}{
		{"nothing moved", 0, 0, 0, false},
		{"sent only", 0, 1 << 20, 0, false},
		{"a round trip", 100, 100, 0, true},
		{"a round trip with data still unacknowledged", 100, 100, 50, false},
		{"16 KiB received", provedBytes, 0, 0, true},
		{"just under 16 KiB received", provedBytes - 1, 0, 0, false},
	} {
		if got := carriedData(tc.in, tc.out, session.Progress{Unacked: tc.unacked}); got != tc.want {
			t.Errorf("%s: carriedData = %v, want %v", tc.name, got, tc.want)
		}
	}
}
