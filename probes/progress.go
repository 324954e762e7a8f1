package probes

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/umbrella-edge/edge/bridge"
)

// Progress shows a run as it goes. On a terminal it keeps one status line, rewritten
// in place (the lines being probed and the step each is at), above which a line is
// printed as each bridge line ends; elsewhere (a file, a pipe, CI) it prints a plain
// line as each step ends. Its Event method is a Config.OnEvent.
type Progress struct {
	w     io.Writer
	tty   bool
	red   *Redactor
	lines []bridge.Line

	mu      sync.Mutex
	at      map[int]string // running line → the step it is at
	done    int
	showing bool // the status line is on the screen
}

// NewProgress shows the progress of a run of lines on w, a terminal if tty.
func NewProgress(w io.Writer, tty bool, red *Redactor, lines []bridge.Line) *Progress {
	return &Progress{w: w, tty: tty, red: red, lines: lines, at: map[int]string{}}
}

// Event shows e.
func (p *Progress) Event(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := fmt.Sprintf("%d %s", e.Line+1, p.red.Bridge(p.lines[e.Line]))
	s := e.Step
	if !e.Done {
		p.at[e.Line] = s.Name
		p.status()
		return
	}
	last := s.Failure != nil || s.Name == StepThroughput || (s.Name == StepEcho && s.Skipped != "")
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %s\n", name, stepLine(s))
		if last {
			fmt.Fprintf(p.w, "%s: done\n", name)
		}
		return
	}
	if last {
		delete(p.at, e.Line)
		p.done++
		p.clear()
		fmt.Fprintf(p.w, "%s: %s\n", name, stepLine(s))
	}
	p.status()
}

// stepLine says how a step ended.
func stepLine(s Step) string {
	switch {
	case s.Skipped != "":
		return s.Name + " skipped: " + s.Skipped
	case s.Failure != nil:
		return fmt.Sprintf("%s failed after %s: %s", s.Name, ms(s.Took), s.Failure.OONI())
	case s.Name == StepThroughput && s.Took > 0:
		return fmt.Sprintf("%s %.1f Mbit/s; works", s.Name, float64(s.Received*8)/s.Took.Seconds()/1e6)
	}
	return fmt.Sprintf("%s ok in %s", s.Name, ms(s.Took))
}

// status rewrites the status line on a terminal.
func (p *Progress) status() {
	if !p.tty {
		return
	}
	running := make([]int, 0, len(p.at))
	for i := range p.at {
		running = append(running, i)
	}
	slices.Sort(running)
	var b strings.Builder
	fmt.Fprintf(&b, "probing: %d of %d done", p.done, len(p.lines))
	for _, i := range running {
		fmt.Fprintf(&b, "; %d %s: %s…", i+1, p.lines[i].Transport, p.at[i])
	}
	line := []rune(b.String())
	if len(line) > statusWidth {
		line = append(line[:statusWidth-1], '…')
	}
	fmt.Fprint(p.w, "\r\x1b[K"+string(line))
	p.showing = true
}

// statusWidth bounds the status line: a longer one wraps, and a carriage return then
// rewrites only its last row.
const statusWidth = 79

func (p *Progress) clear() {
	if p.showing {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.showing = false
	}
}

// Close removes the status line.
func (p *Progress) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}
