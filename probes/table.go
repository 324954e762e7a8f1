package probes

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// Summary says how a run went, for the table's last lines.
type Summary struct {
	Took        time.Duration
	Parallel    int
	StepTimeout time.Duration
}

// WriteTable writes results as a table a person reads, one row per bridge line (its
// number in the input, from 1), then a line with the run's totals and a sentence for
// each line that failed.
func WriteTable(w io.Writer, results []*Result, red *Redactor, sum Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTRANSPORT\tBRIDGE\tFAILED AT\tFAILURE\tCONNECT\tSESSION\tECHO RTT\tTHROUGHPUT\tVERDICT")
	for _, r := range results {
		failedAt, failure := "-", "-"
		if r.Failure != nil {
			failedAt, failure = r.FailedStep, r.Failure.OONI()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Index+1, r.Line.Transport, red.Name(r.Line.Addr),
			failedAt, failure, connectTime(r), ms(r.SessionTime()), echoRTT(r), throughput(r), r.Verdict())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	works := 0
	for _, r := range results {
		if r.Works() {
			works++
		}
	}
	mode := fmt.Sprintf("%d at a time", sum.Parallel)
	if sum.Parallel == 1 {
		mode = "one at a time"
	}
	fmt.Fprintf(w, "\n%d bridge lines in %s (%s, each step within %s): %d work, %d failed.\n",
		len(results), seconds(sum.Took), mode, seconds(sum.StepTimeout), works, len(results)-works)
	for _, r := range results {
		if text := r.Explanation(); text != "" {
			fmt.Fprintf(w, "  %d %s: %s.\n", r.Index+1, red.Bridge(r.Line), text)
		}
	}
	return nil
}

func connectTime(r *Result) string {
	if s := r.step(StepConnect); s != nil && s.Skipped == "" && s.Failure == nil {
		return ms(s.Took)
	}
	return "-"
}

// echoRTT is the median of the echo step's round trips.
func echoRTT(r *Result) string {
	s := r.step(StepEcho)
	if s == nil || len(s.RTTs) == 0 {
		return "-"
	}
	rtts := slices.Clone(s.RTTs)
	slices.Sort(rtts)
	return ms(rtts[len(rtts)/2])
}

func throughput(r *Result) string {
	s := r.step(StepThroughput)
	if s == nil || s.Failure != nil || s.Took <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f Mbit/s", float64(s.Received*8)/s.Took.Seconds()/1e6)
}

// ms says a duration for the table: "-" for none, milliseconds below 10 s.
func ms(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", max(1, d.Milliseconds()))
	}
	return seconds(d)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
