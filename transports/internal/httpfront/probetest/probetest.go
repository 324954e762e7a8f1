// Package probetest sends an active prober's probes to a TLS listener and to a real
// nginx HTTPS site and compares the reactions, for the tests of the gateway's own TLS
// fronts. It is for tests only; the censor simulator has its own prober.
package probetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Class is how a server met a probe, as Frolov et al. (NDSS 2020) classify it.
type Class string

const (
	Data    Class = "data"
	FIN     Class = "FIN"
	RST     Class = "RST"
	Timeout Class = "timeout"
	Failed  Class = "error" // the prober's own trouble: no connection, say
)

// Reaction is what came back for one probe: the first event, the bytes (their start),
// and how the connection ended.
type Reaction struct {
	First Class
	// Head is the start of the data answered, and N how many bytes came in all.
	Head []byte
	N    int
	// End is FIN, RST or Timeout: what followed the data, or the first event when no
	// data came.
	End Class
	// After is the time from the probe's bytes to End: how long a server that waits
	// for more holds the connection before it gives up.
	After time.Duration
}

// headLen is how much of an answer a Reaction keeps: a TLS alert whole, an HTTP
// status line.
const headLen = 64

func (r Reaction) String() string {
	if r.First != Data {
		return string(r.First)
	}
	return fmt.Sprintf("data (%d bytes: %s), then %s", r.N, Describe(r.Head), r.End)
}

// React connects to addr, sends payload, and reads until the server closes or wait
// passes. wait only sets the line between an answer and a timeout: it is no measure
// of speed.
func React(ctx context.Context, addr string, payload []byte, wait time.Duration) Reaction {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Reaction{First: Failed, End: Failed}
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var r Reaction
	if len(payload) > 0 {
		// The server may answer and close before all is written (nginx's 400 for a
		// long bad request): a failed write is no reaction yet, what comes back is.
		c.Write(payload)
	}
	sent := time.Now()
	c.SetReadDeadline(sent.Add(wait))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 && r.N < headLen {
			r.Head = append(r.Head, buf[:min(n, headLen-r.N)]...)
		}
		r.N += n
		if err != nil {
			r.End, r.After = classify(err), time.Since(sent)
			break
		}
	}
	r.First = r.End
	if r.N > 0 {
		r.First = Data
	}
	return r
}

func classify(err error) Class {
	switch {
	case errors.Is(err, io.EOF):
		return FIN
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return RST
	case errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout
	}
	return Failed
}

// Describe names what an answer starts with: a TLS alert and its description, a TLS
// handshake, an HTTP status line.
func Describe(head []byte) string {
	switch {
	case len(head) == 0:
		return "nothing"
	case len(head) >= 7 && head[0] == 0x15 && head[1] == 3:
		return fmt.Sprintf("TLS alert %d/%d (record version 3.%d)", head[5], head[6], head[2])
	case head[0] == 0x16 && len(head) >= 3 && head[1] == 3:
		return fmt.Sprintf("TLS handshake (record version 3.%d)", head[2])
	case len(head) >= 5 && string(head[:5]) == "HTTP/":
		line := head
		for i, b := range head {
			if b == '\r' || b == '\n' {
				line = head[:i]
				break
			}
		}
		return fmt.Sprintf("%q", line)
	}
	return fmt.Sprintf("% x", head[:min(len(head), 8)])
}
