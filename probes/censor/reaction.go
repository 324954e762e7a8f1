package censor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// reactionWait bounds how long an interception waits for a client that refused the
// censor's certificate to close: a browser closes at once (Chromium 156 within a
// millisecond of its alert, on loopback); one still open after this is "open".
const reactionWait = 5 * time.Second

// maxReaction bounds what the censor keeps of a refusing client's bytes.
const maxReaction = 64 << 10

// A Reaction is what a client did after the mitm policy showed it the censor's
// certificate and it did not finish its TLS handshake: what the interception taught
// the censor about it. A browser that does not trust the censor's CA sends an alert
// and closes; a client that sends more, or none, or waits, is not one.
type Reaction struct {
	// Alert is the TLS alert the client sent, as Go names it ("unknown certificate"
	// is certificate_unknown, "bad certificate" bad_certificate), or "" for none.
	Alert string `json:"alert,omitempty"`
	// Records are the TLS records the client sent after its ClientHello, as they
	// crossed the wire. In TLS 1.3 an alert is encrypted: an application_data record
	// of 19 bytes.
	Records []Record `json:"records"`
	// Phrase is the reason phrase of a QUIC client's CONNECTION_CLOSE.
	Phrase string `json:"phrase,omitempty"`
	// Close is how the client ended the connection: over TCP "fin", "rst", or "open"
	// when it had not within reactionWait; over QUIC "connection_close", or "silent"
	// when it sent none.
	Close string `json:"close"`
}

// A Record is a TLS record as its header gives it. Type 0 stands for trailing bytes
// that were no complete record.
type Record struct {
	Type   uint8 `json:"type"`
	Length int   `json:"length"`
}

// TLS record types.
const (
	RecordChangeCipherSpec uint8 = 20
	RecordAlert            uint8 = 21
	RecordHandshake        uint8 = 22
	RecordApplicationData  uint8 = 23
)

func (r Reaction) String() string {
	recs := make([]string, len(r.Records))
	for i, rec := range r.Records {
		recs[i] = fmt.Sprintf("%d/%d", rec.Type, rec.Length)
	}
	alert := r.Alert
	if alert == "" {
		alert = "none"
	}
	if r.Records == nil {
		return fmt.Sprintf("alert %s, phrase %q, %s", alert, r.Phrase, r.Close)
	}
	return fmt.Sprintf("alert %s, records [%s] (type/length), then %s", alert, strings.Join(recs, " "), r.Close)
}

// readRecorder keeps a copy of what is read through it, up to maxReaction bytes.
type readRecorder struct {
	net.Conn
	buf bytes.Buffer
}

func (r *readRecorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if room := maxReaction - r.buf.Len(); room > 0 {
		r.buf.Write(p[:min(n, room)])
	}
	return n, err
}

// refusal is the error of an interception whose client did not finish its handshake.
type refusal struct {
	reaction Reaction
	err      error
}

func (r *refusal) Error() string { return "TLS with client: " + r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// reaction reads what the client sends after its failed handshake (rec saw what the
// handshake read) until it closes, and describes all it sent after its hello.
func (f *tcpFlow) reaction(rec *readRecorder, handshakeErr error) Reaction {
	r := Reaction{Alert: remoteAlert(handshakeErr), Close: "fin"}
	f.client.SetReadDeadline(time.Now().Add(reactionWait))
	rest, err := io.ReadAll(io.LimitReader(f.client, maxReaction))
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		r.Close = "rst"
	case errors.As(err, &ne) && ne.Timeout(), err == nil && len(rest) == maxReaction:
		r.Close = "open"
	}
	r.Records = records(append(rec.buf.Bytes(), rest...))
	return r
}

// remoteAlert is the description of the alert a TLS peer sent, from crypto/tls's
// error, or "".
func remoteAlert(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" && oe.Err != nil {
		return strings.TrimPrefix(oe.Err.Error(), "tls: ")
	}
	return ""
}

// records splits b into TLS records.
func records(b []byte) []Record {
	var out []Record
	for len(b) >= 5 {
		n := int(b[3])<<8 | int(b[4])
		if len(b) < 5+n {
			break
		}
		out = append(out, Record{Type: b[0], Length: n})
		b = b[5+n:]
	}
	if len(b) > 0 {
		out = append(out, Record{Length: len(b)})
	}
	return out
}
