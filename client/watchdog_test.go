package client

import (
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/session"
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

func TestSuspectTimeoutIsAFewRTOsWithoutRFC6298sMinimum(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name         string
		srtt, rttvar time.Duration
		want         time.Duration
	}{
		{"loopback: the floor", 200 * time.Microsecond, 100 * time.Microsecond, suspectFloor},
		{"100 ms ± 50 ms", 100 * ms, 25 * ms, 3*(100*ms+100*ms) + session.AckDelay},
		{"a steady 300 ms", 300 * ms, 5 * ms, 3*(300*ms+20*ms) + session.AckDelay},
		{"no sample yet: RFC 6298's 1 s", 0, 0, 3*(time.Second+2*time.Second) + session.AckDelay},
	} {
		got := suspectTimeout(session.Progress{SRTT: tc.srtt, RTTVar: tc.rttvar})
		if got != tc.want {
			t.Errorf("%s: suspectTimeout = %v, want %v", tc.name, got, tc.want)
		}
		if hard := stallTimeout(tc.srtt); tc.srtt > 0 && got >= hard {
			t.Errorf("%s: suspicion at %v comes after death at %v", tc.name, got, hard)
		}
	}
}

func TestWatchdog(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const srtt = 100 * time.Millisecond // suspicion at 350 ms, death at 2 s
	ms := time.Millisecond
	type sample struct {
		at    time.Duration
		p     session.Progress
		state health
	}
	idle := session.Progress{LastProgress: at(0), SRTT: srtt}
	pending := func(last time.Duration) session.Progress {
		return session.Progress{Unacked: 4096, LastProgress: at(last), SRTT: srtt}
	}
	ping := func(last, sent time.Duration) session.Progress {
		return session.Progress{PingOutstanding: true, LastProgress: at(last), PingSent: at(sent), SRTT: srtt}
	}
	for _, tc := range []struct {
		name    string
		samples []sample
	}{
		{"an idle carrier is never stuck", []sample{
			{0, idle, healthy}, {time.Minute, idle, healthy}, {time.Hour, idle, healthy}}},
		{"data pending with no progress: suspected, then dead", []sample{
			{0, pending(0), healthy}, {349 * ms, pending(0), healthy}, {350 * ms, pending(0), suspected},
			{1999 * ms, pending(0), suspected}, {2 * time.Second, pending(0), dead}}},
		{"the wait starts when the data started waiting, not at the sample", []sample{
			{0, idle, healthy}, {200 * ms, pending(100 * ms), healthy}, {450 * ms, pending(100 * ms), suspected}}},
		{"an unanswered ping counts from when it was sent", []sample{
			{0, idle, healthy}, {time.Second, ping(0, 900*ms), healthy},
			{1250 * ms, ping(0, 900*ms), suspected}, {2900 * ms, ping(0, 900*ms), dead}}},
		{"progress restarts the wait and ends the suspicion", []sample{
			{0, pending(0), healthy}, {400 * ms, pending(0), suspected},
			{500 * ms, pending(450 * ms), healthy}, {800 * ms, pending(450 * ms), suspected}}},
		{"data sent after a long idle time waits from the last sample at most", []sample{
			{time.Hour - 250*ms, idle, healthy}, {time.Hour, pending(0), healthy},
			{time.Hour + 99*ms, pending(0), healthy}, {time.Hour + 100*ms, pending(0), suspected},
			{time.Hour + 1750*ms, pending(0), dead}}},
		{"acknowledged data ends the wait", []sample{
			{0, pending(0), healthy}, {1900 * ms, idle, healthy},
			{2 * time.Second, pending(1950 * ms), healthy}, {3 * time.Second, pending(1950 * ms), suspected}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w watchdog
			for i, s := range tc.samples {
				state, stall, next := w.check(s.p, at(s.at))
				if state != s.state {
					t.Fatalf("sample %d at %v: health %v (%v), want %v", i, s.at, state, stall, s.state)
				}
				if state != healthy && (stall == nil || !strings.Contains(stall.Error(), "carrier stalled")) {
					t.Errorf("sample %d: %v should say the carrier stalled", i, stall)
				}
				if next <= 0 || next > watchdogPeriod {
					t.Errorf("sample %d: next look in %v, want within (0, %v]", i, next, watchdogPeriod)
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
