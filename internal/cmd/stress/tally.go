package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// A failure is one failed run of one test, or of a package whose failure no test owns
// (a build error, a panic outside a test, a timeout).
type failure struct {
	run    string // which run: round, mode, condition
	output []string
}

// tally collects the failures of every run, by test.
type tally struct {
	byTest map[string][]failure // "pkg TestName", or "pkg" for a package's own failure
	runs   int
}

func newTally() *tally { return &tally{byTest: make(map[string][]failure)} }

func (t *tally) failures() int {
	n := 0
	for _, fs := range t.byTest {
		n += len(fs)
	}
	return n
}

// What is kept of one test's output: its first lines, where a test's own failure
// messages often are (a test may log pages after them), and its last ones, where a
// panic or a timeout is; the middle of a long log is dropped.
const (
	headLines = 150
	tailLines = 250
)

// keep appends line to lines, dropping from the middle once the head and tail are full.
func keep(lines []string, line string) []string {
	lines = append(lines, line)
	if len(lines) > headLines+tailLines+1 {
		if lines[headLines] != elided {
			lines = slices.Insert(lines, headLines, elided)
		}
		lines = slices.Delete(lines, headLines+1, headLines+2)
	}
	return lines
}

const elided = "        [… lines left out …]"

// runSuite runs go with args, reading its -json events into t.
func runSuite(ctx context.Context, args, env []string, label string, t *tally) (time.Duration, error) {
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	t.runs++
	output := make(map[string][]string)  // by test, and by package for its own lines
	failedTests := make(map[string]bool) // packages with a failed test
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // go test prints a few non-JSON lines (build errors) to stdout
		}
		key := e.Package
		if e.Test != "" {
			key += " " + e.Test
		}
		switch e.Action {
		case "output":
			output[key] = keep(output[key], strings.TrimRight(e.Output, "\n"))
		case "fail":
			if e.Test != "" {
				if !strings.Contains(e.Test, "/") { // subtests fail with their parent
					t.byTest[key] = append(t.byTest[key], failure{run: label, output: withSubtests(output, key)})
				}
				failedTests[e.Package] = true
			} else if !failedTests[e.Package] {
				// No test failed by itself: the binary crashed (a panic in a goroutine,
				// a timeout) while tests ran. Their output holds why.
				lines := slices.Clone(output[key])
				for _, k := range unfinished(output, e.Package) {
					lines = append(lines, output[k]...)
				}
				t.byTest[key] = append(t.byTest[key], failure{run: label, output: lines})
			}
			fmt.Printf("        FAIL %s\n", key)
		case "pass", "skip":
			delete(output, key)
		}
	}
	waitErr := cmd.Wait()
	if _, ok := waitErr.(*exec.ExitError); ok {
		waitErr = nil // failures were read from the events
	}
	return time.Since(start), waitErr
}

// withSubtests is the output of test key followed by that of its subtests that did not
// pass (a passing test's output is dropped as it passes).
func withSubtests(output map[string][]string, key string) []string {
	var subs []string
	for k := range output {
		if strings.HasPrefix(k, key+"/") {
			subs = append(subs, k)
		}
	}
	slices.Sort(subs)
	lines := slices.Clone(output[key])
	for _, k := range subs {
		lines = append(lines, output[k]...)
	}
	return lines
}

// unfinished lists the tests of pkg that neither passed nor failed, in order.
func unfinished(output map[string][]string, pkg string) []string {
	var keys []string
	for k := range output {
		if strings.HasPrefix(k, pkg+" ") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// print writes the failed tests, most frequent first, with the output of their first
// failure (or of every failure, when all is set).
func (t *tally) print(w io.Writer, all bool) {
	if len(t.byTest) == 0 {
		fmt.Fprintf(w, "no test failed in %d runs\n", t.runs)
		return
	}
	keys := make([]string, 0, len(t.byTest))
	for k := range t.byTest {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := len(t.byTest[b]) - len(t.byTest[a]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	fmt.Fprintf(w, "%d tests failed at least once in %d runs:\n", len(keys), t.runs)
	for _, k := range keys {
		fmt.Fprintf(w, "  %2d× %s\n", len(t.byTest[k]), k)
	}
	for _, k := range keys {
		for i, f := range t.byTest[k] {
			if i > 0 && !all {
				fmt.Fprintf(w, "  (and %d more failures: %s)\n", len(t.byTest[k])-1, runsOf(t.byTest[k][1:]))
				break
			}
			fmt.Fprintf(w, "\n=== %s: failed in %s\n", k, f.run)
			for _, line := range f.output {
				fmt.Fprintln(w, line)
			}
		}
	}
}

func runsOf(fs []failure) string {
	runs := make([]string, len(fs))
	for i, f := range fs {
		runs[i] = f.run
	}
	return strings.Join(runs, "; ")
}
