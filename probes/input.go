package probes

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/transports"
)

// ErrShareURI is returned for an input line that is a share URI rather than a bridge
// line: the operations work defines those; until it lands, paste the bridge line.
var ErrShareURI = errors.New("share URIs are not read yet: give the bridge line itself")

// maxInputLine bounds a line of a bridges file: a bridge line is a few hundred bytes.
const maxInputLine = 64 << 10

// ReadLines reads bridge lines, one a line, as umbrella bridges prints them or a torrc
// holds them ("Bridge …"); blank lines and lines starting with # are skipped. Errors
// name the line by its number, never by its content, which may hold a secret.
func ReadLines(r io.Reader) ([]bridge.Line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxInputLine)
	var lines []bridge.Line
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		b, err := parseInput(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		lines = append(lines, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading bridge lines: %w", err)
	}
	if len(lines) == 0 {
		return nil, errors.New("no bridge lines")
	}
	return lines, nil
}

// parseInput reads one bridge line. This is the seam for share URIs: when the
// operations work defines them (config's share URIs), a URI is decoded here into the
// bridge line it carries.
func parseInput(text string) (bridge.Line, error) {
	if scheme, _, ok := strings.Cut(text, "://"); ok && !strings.ContainsAny(scheme, " \t") {
		return bridge.Line{}, ErrShareURI
	}
	return bridge.Parse(text)
}

// Check builds each line's dialer as Run will, and returns an error naming the first
// line (from 1) whose transport is unknown or whose arguments are wrong (or whose
// pluggable-transport program is missing). An argument is named by its key alone: its
// value may be a secret.
func Check(reg *transports.Registry, lines []bridge.Line) error {
	for i, b := range lines {
		t, err := reg.Get(b.Transport)
		if err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
		if _, err := t.NewDialer(b.Addr, b.Args); err != nil {
			var ae *transports.ArgError
			if errors.As(err, &ae) {
				return fmt.Errorf("line %d (%s): %s= is not valid for this transport", i+1, b.Transport, ae.Key)
			}
			return fmt.Errorf("line %d (%s): %w", i+1, b.Transport, err)
		}
	}
	return nil
}
