package failure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports/trust"
)

// stall is a watchdog's verdict: a timeout that is not a socket's.
type stall struct{}

func (stall) Error() string   { return "carrier stalled" }
func (stall) Timeout() bool   { return true }
func (stall) Temporary() bool { return false }

func TestClassify(t *testing.T) {
	local := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	website := func(date time.Time) []byte {
		return []byte("HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nDate: " + date.Format(http.TimeFormat) + "\r\nContent-Type: text/html\r\n\r\n<html>")
	}
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}
	}
	noAnswer := func(err error) error { return fmt.Errorf("%w: read server hello: %w", session.ErrNoAnswer, err) }
	for _, tc := range []struct {
		name  string
		o     Observation
		cause Cause
		bytes int64
		skew  time.Duration
	}{
		{"a refused connect", Observation{Step: StepConnect, Err: opErr(syscall.ECONNREFUSED)}, Refused, 0, 0},
		{"a connect that timed out", Observation{Step: StepConnect, Err: context.DeadlineExceeded}, Unreachable, 0, 0},
		{"no route", Observation{Step: StepConnect, Err: opErr(syscall.EHOSTUNREACH)}, Unreachable, 0, 0},
		{"a reset after the ClientHello", Observation{Step: StepTransport, TLS: true, Err: opErr(syscall.ECONNRESET)}, Reset, 0, 0},
		{"silence after the hello", Observation{Step: StepSession, Err: noAnswer(os.ErrDeadlineExceeded)}, Silent, 0, 0},
		{"silence in the TLS handshake", Observation{Step: StepTransport, TLS: true, Err: fmt.Errorf("utls: %w", context.DeadlineExceeded)}, Silent, 0, 0},
		{"a freeze during data", Observation{Step: StepData, Err: stall{}, Received: 16 << 10}, Frozen, 16 << 10, 0},
		{"a close without an answer", Observation{Step: StepSession, Err: noAnswer(io.EOF)}, Closed, 0, 0},
		{"a website's answer", Observation{Step: StepSession, Err: noAnswer(io.ErrUnexpectedEOF), Head: website(local), Local: local}, Website, 0, 0},
		{"a website whose clock is 10 minutes ahead", Observation{Step: StepSession, Err: noAnswer(io.EOF), Head: website(local.Add(10 * time.Minute)), Local: local}, ClockOff, 0, 10 * time.Minute},
		{"an upgrade's Date and then silence", Observation{Step: StepSession, Err: noAnswer(os.ErrDeadlineExceeded), ServerDate: local.Add(-5 * time.Minute), Local: local}, ClockOff, 0, -5 * time.Minute},
		{"a Date within a minute is no evidence", Observation{Step: StepSession, Err: noAnswer(os.ErrDeadlineExceeded), ServerDate: local.Add(59 * time.Second), Local: local}, Silent, 0, 0},
		{"a Date does not explain a failed connect", Observation{Step: StepConnect, Err: opErr(syscall.ECONNREFUSED), ServerDate: local.Add(time.Hour), Local: local}, Refused, 0, 0},
		{"a wrong key", Observation{Step: StepSession, Err: fmt.Errorf("%w: signature", session.ErrAuth)}, Auth, 0, 0},
		{"something else", Observation{Step: StepSession, Err: errors.New("odd")}, Unknown, 0, 0},
		{"a certificate refused in the TLS handshake", Observation{Step: StepTLS, TLS: true, Err: fmt.Errorf("handshake: %w", refusedCert(trust.UnknownAuthority))}, Certificate, 0, 0},
		{"a certificate refused in QUIC's handshake", Observation{Step: StepConnect, Err: refusedCert(trust.PinMismatch)}, Certificate, 0, 0},
		{"a name that does not exist", Observation{Step: StepResolve, Err: &net.DNSError{Err: "no such host", Name: "gw.example", IsNotFound: true}}, NoName, 0, 0},
		{"a resolver that timed out", Observation{Step: StepResolve, Err: &net.DNSError{Err: "i/o timeout", Name: "gw.example", IsTimeout: true}}, NoAnswer, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Classify(tc.o)
			if e.Cause != tc.cause || e.Bytes != tc.bytes || e.Skew != tc.skew {
				t.Errorf("Classify = %v, %d bytes, skew %v; want %v, %d bytes, skew %v", e.Cause, e.Bytes, e.Skew, tc.cause, tc.bytes, tc.skew)
			}
			if !errors.Is(e, tc.o.Err) {
				t.Errorf("%v does not wrap the attempt's error", e)
			}
		})
	}
}

func TestExplainSaysWhatIsKnown(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{Cause: Website}, "the gateway answered as a website: the bridge line's secret or address may be wrong, or your clock is off by more than 2 minutes"},
		{Error{Cause: Reset, TLS: true}, "reset right after the TLS ClientHello"},
		{Error{Cause: Reset, TLS: true, Step: StepData}, "reset while carrying data"},
		{Error{Cause: Silent}, "went silent after the first packet"},
		{Error{Cause: Frozen, Bytes: 16 << 10}, "stopped delivering after 16 KB"},
		{Error{Cause: ClockOff, Skew: 10 * time.Minute}, "clock is 10 minutes behind"},
		{Error{Cause: ClockOff, Skew: -3 * time.Hour}, "clock is 3 hours ahead"},
		{Error{Cause: Auth}, "did not prove the bridge line's key"},
		{Error{Cause: Certificate, Reason: trust.UnknownAuthority}, "not the bridge's (unknown authority): someone is likely intercepting"},
		{Error{Cause: Unknown, Step: StepTLS}, "the TLS handshake with the bridge failed"},
	} {
		if got := tc.e.Explain(); !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q does not say %q", tc.e.Cause, got, tc.want)
		}
	}
}

func TestSamePattern(t *testing.T) {
	frozen := func(n int64) *Error { return &Error{Cause: Frozen, Bytes: n} }
	for _, tc := range []struct {
		name string
		a, b *Error
		want bool
	}{
		{"two resets", &Error{Cause: Reset}, &Error{Cause: Reset, TLS: true}, true},
		{"a reset and silence", &Error{Cause: Reset}, &Error{Cause: Silent}, false},
		{"freezes at 14 and 20 KB", frozen(14 << 10), frozen(20 << 10), true},
		{"freezes at 16 KB and 1 MB", frozen(16 << 10), frozen(1 << 20), false},
	} {
		if got := tc.a.Same(tc.b); got != tc.want {
			t.Errorf("%s: Same = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// refusedCert is what a TLS client's dial wraps when it refused a certificate.
func refusedCert(r trust.Reason) error {
	return &trust.Error{ServerName: "www.example.com", Reason: r, Err: errors.New("x509")}
}

func TestOONIFailureStrings(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Error
		want string
	}{
		{"refused", Error{Cause: Refused, Step: StepConnect}, "connection_refused"},
		{"no answer to connect", Error{Cause: Unreachable, Step: StepConnect}, "generic_timeout_error"},
		{"reset", Error{Cause: Reset, Step: StepTLS}, "connection_reset"},
		{"silence", Error{Cause: Silent, Step: StepTransport}, "generic_timeout_error"},
		{"a freeze", Error{Cause: Frozen, Step: StepData}, "generic_timeout_error"},
		{"closed", Error{Cause: Closed, Step: StepSession}, "eof_error"},
		{"a censor's CA", Error{Cause: Certificate, Reason: trust.UnknownAuthority}, "ssl_unknown_authority"},
		{"another name", Error{Cause: Certificate, Reason: trust.WrongName}, "ssl_invalid_hostname"},
		{"not the pinned key", Error{Cause: Certificate, Reason: trust.PinMismatch}, "ssl_invalid_certificate"},
		{"an unexplained TLS failure", Error{Cause: Unknown, Step: StepTLS}, "ssl_failed_handshake"},
		{"an unexplained transport failure", Error{Cause: Unknown, Step: StepTransport}, "unknown_failure: unknown"},
		{"NXDOMAIN", Error{Cause: NoName, Step: StepResolve}, "dns_nxdomain_error"},
		{"a resolver timeout", Error{Cause: NoAnswer, Err: &net.DNSError{Err: "i/o timeout", IsTimeout: true}}, "generic_timeout_error"},
		{"SERVFAIL", Error{Cause: NoAnswer, Err: &net.DNSError{Err: "server misbehaving"}}, "dns_server_misbehaving"},
		{"a website's answer", Error{Cause: Website, Step: StepSession}, "unknown_failure: website"},
	} {
		if got := tc.e.OONI(); got != tc.want {
			t.Errorf("%s: OONI() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCensorCauses(t *testing.T) {
	for c := Unknown; c <= NoAnswer; c++ {
		want := c == Reset || c == Silent || c == Frozen
		if c.Censor() != want {
			t.Errorf("%v.Censor() = %v, want %v", c, c.Censor(), want)
		}
		if c.String() == "unknown" && c != Unknown {
			t.Errorf("cause %d has no name", c)
		}
	}
}

func TestMeterKeepsTheHead(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	m := NewMeter(b)
	defer m.Close()
	data := make([]byte, 3*HeadSize)
	for i := range data {
		data[i] = byte(i)
	}
	go a.Write(data)
	if _, err := io.ReadFull(m, make([]byte, len(data))); err != nil {
		t.Fatal(err)
	}
	if m.Received() != int64(len(data)) || string(m.Head()) != string(data[:HeadSize]) {
		t.Errorf("Received %d, head %d bytes; want %d and the first %d", m.Received(), len(m.Head()), len(data), HeadSize)
	}
}

func FuzzHTTPDate(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nDate: Mon, 23 Nov 2026 12:00:00 GMT\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\ndate:Mon, 23 Nov 2026 12:00:00 GMT"))
	f.Add([]byte("HTTP/1.0 200\r\n\r\nDate: x"))
	f.Fuzz(func(t *testing.T, head []byte) {
		d, ok := httpDate(head)
		if ok && !looksLikeHTTP(head) {
			t.Errorf("a Date %v from something that is not HTTP", d)
		}
		Classify(Observation{Step: StepSession, Head: head, Local: time.Now()})
	})
}

func TestFillHTTPReadsTheRestOfAWebsitesAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, sent string
		read       int // what the reader took before giving up
		want       string
	}{
		{"an HTTP answer read two bytes in", "HTTP/1.1 400 Bad Request\r\nDate: x\r\n\r\n", 2, "HTTP/1.1 400 Bad Request\r\nDate: x\r\n\r\n"},
		{"not HTTP: left as it is", "\x16\x03\x01\x00\x05hello", 2, "\x16\x03"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			m := NewMeter(b)
			defer m.Close()
			go func() {
				a.Write([]byte(tc.sent))
			}()
			if _, err := io.ReadFull(m, make([]byte, tc.read)); err != nil {
				t.Fatal(err)
			}
			m.FillHTTP(time.Second)
			if got := string(m.Head()); got != tc.want {
				t.Errorf("head %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMeterKeepsTheFirstErrorButNotItsOwnClose(t *testing.T) {
	a, b := net.Pipe()
	m := NewMeter(b)
	m.Close()
	m.Read(make([]byte, 1))
	if err := m.Err(); err != nil {
		t.Errorf("after its own Close: Err() = %v, want nil", err)
	}
	a2, b2 := net.Pipe()
	m2 := NewMeter(b2)
	defer m2.Close()
	a2.Close()
	m2.Read(make([]byte, 1))
	if err := m2.Err(); !errors.Is(err, io.EOF) {
		t.Errorf("after the peer closed: Err() = %v, want EOF", err)
	}
	a.Close()
}
