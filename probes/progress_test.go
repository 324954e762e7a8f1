package probes

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client/failure"
)

// progressOf feeds p the events of one line that connects and is reset in its
// transport handshake, and of another that starts.
func progressOf(t *testing.T, tty bool) string {
	lines := []bridge.Line{mustLine(t, "utls 192.0.2.7:443 servername=www.example.com"), mustLine(t, "tcp 192.0.2.9:7000")}
	var out bytes.Buffer
	p := NewProgress(&out, tty, NewRedactor(false), lines)
	reset := &failure.Error{Cause: failure.Reset, Step: failure.StepTLS, TLS: true}
	p.Event(Event{Line: 0, Step: Step{Name: StepConnect}})
	p.Event(Event{Line: 1, Step: Step{Name: StepConnect}})
	p.Event(Event{Line: 0, Step: Step{Name: StepConnect, Took: 2 * time.Millisecond}, Done: true})
	p.Event(Event{Line: 0, Step: Step{Name: StepTransport}})
	p.Event(Event{Line: 0, Step: Step{Name: StepTransport, Took: 3 * time.Millisecond, Failure: reset}, Done: true})
	p.Close()
	return out.String()
}

func TestProgressOnATerminal(t *testing.T) {
	out := progressOf(t, true)
	for _, want := range []string{
		"\r\x1b[Kprobing: 0 of 2 done; 1 utls: connect…; 2 tcp: connect…",
		"\r\x1b[Kprobing: 0 of 2 done; 1 utls: transport_handshake…; 2 tcp: connect…",
		"\r\x1b[K1 utls #", ": transport_handshake failed after 3 ms: connection_reset\n",
		"\r\x1b[Kprobing: 1 of 2 done; 2 tcp: connect…\r\x1b[K",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal progress lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "connect ok") {
		t.Errorf("a terminal's progress printed a line for a step that passed:\n%q", out)
	}
}

func TestProgressAsPlainLines(t *testing.T) {
	out := progressOf(t, false)
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{": connect ok in 2 ms", ": transport_handshake failed after 3 ms: connection_reset", ": done"}
	if len(got) != len(want) || strings.ContainsAny(out, "\r\x1b") {
		t.Fatalf("plain progress:\n%s\nwant %d lines, no terminal codes", out, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], "1 utls #") || !strings.HasSuffix(got[i], want[i]) || strings.Contains(got[i], "192.0.2.7") {
			t.Errorf("line %d: %q; want 1 utls, its hashed address, then %q", i+1, got[i], want[i])
		}
	}
}
