package tlskit

import (
	"crypto/tls"
	"errors"
	"testing"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/trust"
)

// The probe tool learns from a dial's trace when the TLS handshake began, with which
// JA4, and how it ended; the JA4 is the one Client.JA4 names (and a test in
// fingerprint_test.go holds that to the hello on the wire).
func TestTraceIsToldOfTheTLSHandshake(t *testing.T) {
	own := selfSigned(t, testServerName)
	for _, tt := range []struct {
		name    string
		pin     string
		refused bool
	}{
		{"a handshake that completes", trust.PinOf(own.Leaf).String(), false},
		{"a certificate the client refuses", trust.PinOf(selfSigned(t, testServerName).Leaf).String(), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, seen := serveOnce(t, own, tls.VersionTLS13)
			tc, err := NewClient(testServerName, transports.Args{trust.PinArg: tt.pin, ArgFP: FPFirefox}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := tc.JA4()
			if err != nil {
				t.Fatal(err)
			}
			var started, ended []string
			var doneErr error
			trace := &transports.Trace{
				TLSHandshakeStart: func(name, ja4 string) { started = append(started, name+" "+ja4) },
				TLSHandshakeDone:  func(err error) { ended = append(ended, "done"); doneErr = err },
			}
			conn, _, dialErr := tc.Dial(transports.WithTrace(testContext(t), trace), addr)
			if conn != nil {
				conn.Close()
			}
			<-seen
			if len(started) != 1 || started[0] != testServerName+" "+want {
				t.Errorf("TLSHandshakeStart calls %q; want one with %q", started, testServerName+" "+want)
			}
			if len(ended) != 1 {
				t.Fatalf("TLSHandshakeDone called %d times; want once", len(ended))
			}
			var te *trust.Error
			switch {
			case tt.refused && (!errors.As(doneErr, &te) || !errors.Is(dialErr, doneErr)):
				t.Errorf("TLSHandshakeDone(%v), Dial %v; want the dial's error, wrapping a *trust.Error", doneErr, dialErr)
			case !tt.refused && (doneErr != nil || dialErr != nil):
				t.Errorf("TLSHandshakeDone(%v), Dial %v; want both nil", doneErr, dialErr)
			}
		})
	}
}
