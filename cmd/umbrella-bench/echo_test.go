package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestEchoRowsCompareEachOfOursWithItsAnchor(t *testing.T) {
	lat := func(p99 time.Duration) latencies { return latencies{p99 / 2, p99} }
	results := []echoResult{
		{name: anchorSS, rate: 100, cpuPerGB: 6, lat: lat(200 * time.Microsecond), bytes: 1 << 30},
		{name: anchorObfs4, missing: errors.New("obfs4proxy " + errMissing.Error())},
		{name: "our tcp", transport: "tcp", rate: 160, cpuPerGB: 3, lat: lat(100 * time.Microsecond), bytes: 1 << 30},
		{name: "our utls", transport: "utls", rate: 90, cpuPerGB: 9, lat: lat(400 * time.Microsecond), bytes: 1 << 30},
		{name: "our obfs4", transport: "obfs4", rate: 30, cpuPerGB: 20, lat: lat(time.Millisecond), bytes: 1 << 30},
	}
	rows := echoRows(results)
	find := func(measure, path string) row {
		for _, r := range rows {
			if strings.HasSuffix(r.measure, measure) && r.path == path {
				return r
			}
		}
		t.Fatalf("no %q row for %q in %v", measure, path, rows)
		return row{}
	}
	tests := []struct {
		measure, path       string
		baseline, met, want string
	}{
		{"throughput", "our tcp", "1.60× shadowsocks-libev", "yes", "160 MB/s"},
		{"throughput", "our utls", "0.90× shadowsocks-libev", "**no**", "90 MB/s"},
		{"1 KiB round trip", "our tcp", "p99 0.50× shadowsocks-libev", "yes", ""},
		{"1 KiB round trip", "our utls", "p99 2.00× shadowsocks-libev", "", ""},
		{"CPU per GB (client + server sides)", "our tcp", "0.50× shadowsocks-libev", "", "3.00 s/GB"},
		{"throughput", "our obfs4", "", "", "30 MB/s"},
		{"throughput", anchorObfs4, "", "", "not measured"},
	}
	for _, tt := range tests {
		r := find(tt.measure, tt.path)
		if r.baseline != tt.baseline || r.met != tt.met || (tt.want != "" && r.result != tt.want) {
			t.Errorf("%s of %s: result %q, baseline %q, met %q; want %q, %q, %q",
				tt.measure, tt.path, r.result, r.baseline, r.met, tt.want, tt.baseline, tt.met)
		}
	}
}

// TestTunnelAnchorsEcho runs the plain crypto/tls and quic-go tunnels in front of the
// bulk echo and checks that an echo transfer comes back whole through each.
func TestTunnelAnchorsEcho(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b, err := startBackends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, kind := range []string{tunnelTLS, tunnelQUIC} {
		t.Run(kind, func(t *testing.T) {
			open, err := inProcessTunnel(ctx, kind, b.services())
			if err != nil {
				t.Fatal(err)
			}
			c, err := open(ctx, serviceEchoBulk)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if n, err := echoOnce(c, 3<<20+17); err != nil || n != 3<<20+17 {
				t.Fatalf("echoOnce = %d, %v; want %d bytes back", n, err, 3<<20+17)
			}
		})
	}
}

func TestTreeCPUCountsTheProcessItself(t *testing.T) {
	self, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	tree, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if tree < self {
		t.Errorf("treeCPU = %v, less than the process's own %v", tree, self)
	}
	if _, err := treeCPU(1 << 30); err == nil {
		t.Error("treeCPU of a process that does not exist: no error")
	}
}

func TestParseStatPPIDSkipsTheCommandName(t *testing.T) {
	for stat, want := range map[string]int{
		"1234 (umbrella) S 77 1234 1234 0":       77,
		"1234 (a) b) (c) R 9 1234 1234 0 -1 4":   9,
		"1234 (ss-server) S 4321 1234 1234 0 -1": 4321,
	} {
		if got, err := parseStatPPID(stat); err != nil || got != want {
			t.Errorf("parseStatPPID(%q) = %d, %v; want %d", stat, got, err, want)
		}
	}
}
