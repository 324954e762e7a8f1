// Command stress runs the test suite again and again, with and without the race
// detector, part of the time beside a CPU hog or on one CPU, and reports every test
// that failed even once, with its output. It is how a fix to a flaky test is proved
// (`make stress`); it is not part of `make test`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"
)

// A condition is what else the machine is doing while one run of the suite goes.
type condition struct {
	name string
	env  []string // added to the tests' environment
	hog  bool     // burn CPU beside the tests
}

var conditions = []condition{
	{name: "quiet"},
	{name: "beside a CPU hog", hog: true},
	{name: "GOMAXPROCS=1", env: []string{"GOMAXPROCS=1"}},
}

func main() {
	rounds := flag.Int("rounds", 5, "times to run the suite in each mode (without and with -race)")
	race := flag.String("race", "both", "which modes to run: both, on, or off")
	run := flag.String("run", "", "only tests matching this regexp (go test -run)")
	timeout := flag.Duration("timeout", 15*time.Minute, "go test -timeout of each run")
	hogCores := flag.Int("hog", 1, "cores the CPU hog keeps busy during its runs")
	report := flag.String("report", "", "also write every failure's whole output to this file")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `usage: stress [flags] [packages]

Runs 'go test -count=1' on the packages (default ./...) -rounds times without and with
the race detector. The runs take turns at three conditions: a quiet machine, beside a
CPU hog of -hog cores, and GOMAXPROCS=1. At the end it lists every test that failed
even once, how often and under what, with the output of its failures; the exit status
is 1 if any failed.

Example: stress -rounds 20 ./session/... ./client/...

`)
		flag.PrintDefaults()
	}
	flag.Parse()
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	var modes []bool
	switch *race {
	case "both":
		modes = []bool{false, true}
	case "off":
		modes = []bool{false}
	case "on":
		modes = []bool{true}
	default:
		fmt.Fprintf(os.Stderr, "stress: -race %q: want both, on or off\n", *race)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	results := newTally()
	total := *rounds * len(modes)
	n := 0
	for r := range *rounds {
		cond := conditions[r%len(conditions)]
		for _, withRace := range modes {
			n++
			if ctx.Err() != nil {
				break
			}
			label := fmt.Sprintf("round %d/%d, %s, %s", r+1, *rounds, raceName(withRace), cond.name)
			fmt.Printf("[%d/%d] %s (%s elapsed)\n", n, total, label, time.Since(start).Round(time.Second))
			args := []string{"test", "-json", "-count=1", "-timeout", timeout.String()}
			if withRace {
				args = append(args, "-race")
			}
			if *run != "" {
				args = append(args, "-run", *run)
			}
			args = append(args, pkgs...)
			var stopHog func()
			if cond.hog {
				stopHog = startHog(*hogCores)
			}
			took, err := runSuite(ctx, args, cond.env, label, results)
			if stopHog != nil {
				stopHog()
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "stress: %s: %v\n", label, err)
			}
			fmt.Printf("        took %s; %d failures so far\n", took.Round(time.Second), results.failures())
			if *report != "" {
				// Rewritten after every run, so a long stress run can be read while it goes.
				if err := writeReport(*report, results); err != nil {
					fmt.Fprintf(os.Stderr, "stress: %v\n", err)
				}
			}
		}
	}
	fmt.Printf("\n%d runs of %s in %s\n", n, strings.Join(pkgs, " "), time.Since(start).Round(time.Second))
	results.print(os.Stdout, false)
	if results.failures() > 0 {
		os.Exit(1)
	}
}

func raceName(on bool) string {
	if on {
		return "-race"
	}
	return "no -race"
}

// startHog keeps cores busy until the returned function is called.
func startHog(cores int) (stop func()) {
	done := make(chan struct{})
	for range max(cores, 1) {
		go func() {
			x := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				for range 1 << 16 {
					x++
				}
				runtime.Gosched()
			}
		}()
	}
	return func() { close(done) }
}

func writeReport(path string, t *tally) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	t.print(f, true)
	return f.Close()
}
