package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/probes/censor"
	"github.com/umbrella-edge/edge/transports"
)

// startLab starts a lab for one test and closes it when the test ends.
func startLab(t *testing.T, opts Options) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("lab.Start: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// A dialer opens streams to services: a *Client or a *client.Client.
type dialer interface {
	Dial(ctx context.Context, service string) (net.Conn, error)
}

// echo sends size random bytes through c to the echo service and checks by SHA-256
// that the same bytes come back.
func echo(ctx context.Context, c dialer, size int) error {
	return transfer(ctx, c, size, nil)
}

// carried sends size random bytes to the echo service and back through a client of b
// alone, with only tr in its registry, and returns the transport that carried them.
func carried(t *testing.T, tr transports.Transport, b bridge.Line, size int) string {
	t.Helper()
	reg, err := transports.NewRegistry(tr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Bridges: []bridge.Line{b}, Transports: reg, HandshakeTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("client.New(%s): %v", b.Redacted(), err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := echo(ctx, c, size); err != nil {
		t.Fatalf("through %s: %v", b.Redacted(), err)
	}
	return c.Active()
}

// transfer is echo in two halves: it calls midway, if set, once the first half has
// come back, and only then sends the second, so that the second half crosses whatever
// midway did.
func transfer(ctx context.Context, c dialer, size int, midway func() error) error {
	conn, err := c.Dial(ctx, Service)
	if err != nil {
		return fmt.Errorf("dial %s: %w", Service, err)
	}
	return exchange(ctx, conn, size, midway)
}

// exchange is transfer on a stream to the echo service that is open already; it
// closes conn.
func exchange(ctx context.Context, conn net.Conn, size int, midway func() error) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sent := make([]byte, size)
	rand.Read(sent)
	got := make([]byte, size)
	half := size / 2
	for i, part := range [][2]int{{0, half}, {half, size}} {
		if i == 1 && midway != nil {
			if err := midway(); err != nil {
				return err
			}
		}
		wrote := make(chan error, 1)
		go func() {
			_, err := conn.Write(sent[part[0]:part[1]])
			wrote <- err
		}()
		if n, err := io.ReadFull(conn, got[part[0]:part[1]]); err != nil {
			return fmt.Errorf("read the echo: %d of %d bytes, then %w", part[0]+n, size, err)
		}
		if err := <-wrote; err != nil {
			return fmt.Errorf("write %d bytes: %w", size, err)
		}
	}
	if sum, want := sha256.Sum256(got), sha256.Sum256(sent); !bytes.Equal(sum[:], want[:]) {
		return fmt.Errorf("the echo of %d bytes has SHA-256 %x…, want %x…", size, sum[:8], want[:8])
	}
	return nil
}

// tlsTransports are the TCP transports whose carriers start with a TLS ClientHello.
var tlsTransports = []string{"utls", "webtunnel", "websocket", "meek"}

// Selections of a lab's lines.
func linesWhere(l *Lab, keep func(Line) bool) []Line {
	var out []Line
	for _, ln := range l.Lines() {
		if keep(ln) {
			out = append(out, ln)
		}
	}
	return out
}

func direct(l *Lab) []Line  { return linesWhere(l, func(ln Line) bool { return !ln.Fronted }) }
func fronted(l *Lab) []Line { return linesWhere(l, func(ln Line) bool { return ln.Fronted }) }
func everyLine(l *Lab) []Line {
	return l.Lines()
}

func routes(l *Lab, names ...string) []Line {
	return linesWhere(l, func(ln Line) bool { return slices.Contains(names, ln.Route.Name) })
}

func udpLines(l *Lab) []Line {
	return linesWhere(l, func(ln Line) bool { return ln.Route.Network == "udp" })
}

func transport(l *Lab, name string) []Line {
	return linesWhere(l, func(ln Line) bool { return ln.Bridge.Transport == name })
}

// directTLS are the gateway's own lines over TCP that start with a TLS ClientHello.
func directTLS(l *Lab) []Line {
	return linesWhere(l, func(ln Line) bool { return !ln.Fronted && slices.Contains(tlsTransports, ln.Bridge.Transport) })
}

// directRaw are the gateway's own lines that do not look like TLS: tcp, obfs4, pt.
func directRaw(l *Lab) []Line {
	return linesWhere(l, func(ln Line) bool {
		return !ln.Fronted && ln.Route.Network == "tcp" && !slices.Contains(tlsTransports, ln.Bridge.Transport)
	})
}

// label names a line in test output: its route, and its fingerprint when a test gave
// it one of its own.
func label(ln Line) string {
	if fp := ln.Bridge.Args["fp"]; fp != "" {
		return ln.Route.Name + "(fp=" + fp + ")"
	}
	return ln.Route.Name
}

// ordered puts first before then, then every other line of the lab, each line once.
func ordered(l *Lab, first, then []Line) []Line {
	var out []Line
	seen := map[string]bool{}
	for _, ln := range slices.Concat(first, then, l.Lines()) {
		if !seen[label(ln)] {
			seen[label(ln)] = true
			out = append(out, ln)
		}
	}
	return out
}

func bridgesOf(lines []Line) []bridge.Line {
	out := make([]bridge.Line, len(lines))
	for i, ln := range lines {
		out[i] = ln.Bridge
	}
	return out
}

// waitDecisions polls the censor's log until every route has a decision that matches
// evidence, and returns the routes that have none when the deadline, which only keeps
// a broken test from hanging, passes.
func waitDecisions(l *Lab, routes []string, evidence func(censor.Decision) bool) []string {
	var missing []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		missing = missing[:0]
		ds := l.Censor.Decisions()
		for _, r := range routes {
			if !slices.ContainsFunc(ds, func(d censor.Decision) bool { return d.Flow.Route == r && evidence(d) }) {
				missing = append(missing, r)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
	}
}

// decisionsOn formats the censor's decisions on routes, for a failure message.
func decisionsOn(l *Lab, routes []string) string {
	var b strings.Builder
	for _, d := range l.Censor.Decisions() {
		if slices.Contains(routes, d.Flow.Route) {
			fmt.Fprintf(&b, "\n  %s #%d %s %s: %s", d.Flow.Route, d.Flow.ID, d.Policy, d.Verdict, d.Reason)
		}
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

// story summarises a client's events: "attempt tcp, failed tcp (…), active utls".
func story(events []Event) string {
	parts := make([]string, 0, len(events))
	for _, e := range events {
		s := e.Kind.String()
		if e.Name != "" {
			s += " " + e.Name
		}
		switch e.Kind {
		case client.EventActive, client.EventResumed:
			s += fmt.Sprintf(" (%v)", e.Took.Round(time.Millisecond))
		case client.EventBlocked:
			s += fmt.Sprintf(" (retry in %v)", e.Retry.Round(time.Millisecond))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// untried returns the lines of hit whose attempts, if the client, given order, made
// any, never failed: an attempt abandoned when another line won the round (a hedge,
// or a parallel attempt) may have been cancelled before the censor saw its flow, so
// only a failure says that the policy had its turn.
func untried(hit, order []Line, events []Event) []Line {
	var out []Line
	for _, ln := range hit {
		i := slices.IndexFunc(order, func(o Line) bool { return label(o) == label(ln) })
		if !slices.ContainsFunc(events, func(e Event) bool { return e.Kind == client.EventFailed && e.Bridge == i }) {
			out = append(out, ln)
		}
	}
	return out
}

// touch has a client of ln alone connect and, if it can, echo a little: what a policy
// acts on, at the connect or once data flows. Its failures are the policy's doing. It
// returns the client's events. timeout is the client's HandshakeTimeout.
func touch(ctx context.Context, l *Lab, ln Line, timeout time.Duration) []Event {
	c, err := l.Client(client.Config{Bridges: []bridge.Line{ln.Bridge}, HandshakeTimeout: timeout})
	if err != nil {
		return nil
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if c.Connect(ctx) == nil {
		echo(ctx, c, 32<<10)
	}
	return c.Events()
}
