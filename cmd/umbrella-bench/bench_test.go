package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	hundred := make(latencies, 100)
	for i := range hundred {
		hundred[len(hundred)-1-i] = time.Duration(i+1) * time.Millisecond // unsorted on purpose
	}
	tests := []struct {
		name string
		l    latencies
		p    float64
		want time.Duration
	}{
		{"median of 1..100 ms", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100 ms", hundred, 99, 99 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"one sample is every percentile", latencies{7}, 99, 7},
		{"no samples give zero", nil, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.percentile(tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestParseStatCPUSumsUserAndSystemTicks(t *testing.T) {
	tests := []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{"plain name", "1234 (umbrella) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0",
			3 * time.Second, false},
		{"name with spaces and parens", "1234 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 0 0",
			100 * time.Millisecond, false},
		{"truncated", "1234 (umbrella) S 1 1234", 0, true},
		{"no name", "garbage", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU(tt.stat)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseMetricsKeepsUnlabelledSamples(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
go_memstats_heap_inuse_bytes 1.2345e+07
umbrella_gateway_sessions{transport="tcp"} 3
go_gc_duration_seconds_count 17
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"go_goroutines": 42, "go_memstats_heap_inuse_bytes": 12345000, "go_gc_duration_seconds_count": 17}
	if len(m) != len(want) {
		t.Errorf("parsed %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add("go_goroutines 42\n")
	f.Add("# TYPE x gauge\nx{a=\"b\"} 1\nx 2 1700000000\n")
	f.Add("x NaN\ny +Inf\n\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := parseMetrics(strings.NewReader(text))
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}

// The bulk protocol is what every throughput number rests on: the sink must count
// exactly what was sent, and the source must send exactly what was asked.
func TestBulkMovesExactlyTheRequestedBytes(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b, err := startBackends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	conn, err := net.Dial("tcp", b.bulkAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute)) // only keeps a bug from hanging the test
	for _, tt := range []struct {
		name string
		dir  byte
		size int64
	}{
		{"upload of zero bytes", bulkUp, 0},
		{"upload across chunks", bulkUp, 3*bulkChunk + 17},
		{"download across chunks", bulkDown, 2*bulkChunk + 5},
		{"upload after download on the same conn", bulkUp, 1},
	} {
		n, err := bulkRequest(conn, tt.dir, tt.size)
		if err != nil || n != tt.size {
			t.Fatalf("%s: moved %d bytes, err %v; want %d", tt.name, n, err, tt.size)
		}
	}
}
