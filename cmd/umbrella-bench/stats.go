package main

import (
	"fmt"
	"slices"
	"time"
)

// latencies are samples of one measurement, summarised by nearest-rank percentiles.
type latencies []time.Duration

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100).
func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func (l latencies) p50p99() string {
	return fmt.Sprintf("p50 %s, p99 %s", ms(l.percentile(50)), ms(l.percentile(99)))
}

// ms prints a duration in milliseconds with three significant-ish decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

// ratio is "x % of raw TCP" for throughput-like numbers (bigger is better).
func percentOf(v, base float64) string {
	if base <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f %%", 100*v/base)
}

// mbps is bytes per duration in MB/s (10^6 bytes per second).
func mbps(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / d.Seconds() / 1e6
}
