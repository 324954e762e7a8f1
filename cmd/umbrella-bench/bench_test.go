package main

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/internal/lab"
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

func TestLossAndMoveFindsTheFirstLossAfterTheKill(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(kind client.EventKind, name string, ms int) lab.Event {
		return lab.Event{Event: client.Event{Kind: kind, Name: name}, At: at(ms)}
	}
	tests := []struct {
		name     string
		events   []lab.Event
		wantLost time.Time
		wantTo   string
	}{
		{"loss then resume", []lab.Event{ev(client.EventLost, "tcp", 5), ev(client.EventAttempt, "utls", 6), ev(client.EventResumed, "utls", 9)},
			at(5), "utls"},
		{"an earlier kill's events are ignored", []lab.Event{ev(client.EventLost, "tcp", -50), ev(client.EventResumed, "utls", -40),
			ev(client.EventLost, "utls", 7), ev(client.EventResumed, "obfs4", 8)}, at(7), "obfs4"},
		{"a new session counts as the move", []lab.Event{ev(client.EventLost, "tcp", 1), ev(client.EventActive, "meek", 3)}, at(1), "meek"},
		{"no loss: the carrier carried on", []lab.Event{ev(client.EventResumed, "utls", -3)}, time.Time{}, "?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lost, to := lossAndMove(tt.events, t0)
			if !lost.Equal(tt.wantLost) || to != tt.wantTo {
				t.Errorf("lossAndMove = %v, %q; want %v, %q", lost, to, tt.wantLost, tt.wantTo)
			}
		})
	}
}

// The failover time rests on the flow: it must time the echo of a record sent after a
// moment, and it must notice a record that never came back.
func TestFlowTimesEchoesAndNoticesALostRecord(t *testing.T) {
	for _, tt := range []struct {
		name    string
		drop    int // the record the echo server swallows; -1 for none
		wantErr bool
	}{
		{"every record echoed", -1, false},
		{"record 3 lost", 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			// The echo server says when it has read record 3, so the mark below comes
			// after record 3 was sent however late a loaded machine sent it; a mark
			// taken from the clock alone could fall before records 0 to 2, whose echoes
			// then answered the wait before the loss of record 3 was seen.
			sawRecord3 := make(chan struct{})
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				rec := make([]byte, recordSize)
				for i := 0; ; i++ {
					if _, err := io.ReadFull(c, rec); err != nil {
						return
					}
					if i != tt.drop {
						c.Write(rec)
					}
					if i == 3 {
						close(sawRecord3)
					}
				}
			}()
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			f := startFlow(conn)
			defer f.close()
			<-sawRecord3
			mark := time.Now()
			got, err := f.echoSentAfter(t.Context(), mark)
			if tt.wantErr {
				if err == nil {
					t.Fatal("a lost record went unnoticed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Before(mark) {
				t.Errorf("echo of a record sent after %v arrived at %v, before it", mark, got)
			}
		})
	}
}

func TestMemoryBudgetFitsUnderTheFileLimit(t *testing.T) {
	tests := []struct {
		name              string
		want              int
		limit             uint64
		open              int
		sessions, streams int
		saysWhyFewer      bool
	}{
		{"room for all", 10000, 65536, 100, 10000, 10000, false},
		{"streams squeezed by what is open", 10000, 20000, 500, 10000, 9244, true},
		{"sessions squeezed too", 10000, 8000, 300, 7444, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, st, note := memoryBudget(tt.want, tt.limit, tt.open)
			if s != tt.sessions || st != tt.streams || (note != "") != tt.saysWhyFewer {
				t.Errorf("memoryBudget = %d sessions, %d streams, note %q; want %d, %d, note %v",
					s, st, note, tt.sessions, tt.streams, tt.saysWhyFewer)
			}
			if s+st+tt.open > int(tt.limit) {
				t.Errorf("%d sessions + %d streams + %d open exceed the limit %d", s, st, tt.open, tt.limit)
			}
		})
	}
}

func TestProcMemoryReadsThisProcess(t *testing.T) {
	m, err := procMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.anon <= 0 || m.file <= 0 || m.rss < m.anon+m.file || m.hwm < m.rss {
		t.Errorf("read %+v; want anonymous and file pages within VmRSS, and a peak at least VmRSS", m)
	}
}

func TestEchoBulkChecksWhatCameBack(t *testing.T) {
	tests := []struct {
		name    string
		echo    func(net.Conn)
		wantErr bool
	}{
		{"whole echo", func(c net.Conn) { io.Copy(c, c) }, false},
		{"one byte changed", func(c net.Conn) {
			buf := make([]byte, 4096)
			for first := true; ; first = false {
				n, err := c.Read(buf)
				if first && n > 0 {
					buf[0] ^= 1
				}
				if _, werr := c.Write(buf[:n]); err != nil || werr != nil {
					return
				}
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			go func() { tt.echo(b); b.Close() }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := echoChecked(ctx, a, 1<<20); (err != nil) != tt.wantErr {
				t.Errorf("echoChecked: %v, want an error: %v", err, tt.wantErr)
			}
		})
	}
}
