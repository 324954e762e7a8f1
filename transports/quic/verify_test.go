package quic

import (
	"errors"
	"testing"

	quicgo "github.com/quic-go/quic-go"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
	"github.com/umbrella-edge/edge/transports/trust"
)

func TestRefusedCertificateClosesWithChromiumsAlert(t *testing.T) {
	ln := listenLoopback(t)
	other := listenLoopback(t) // another key: its pin is the wrong one for ln
	tests := []struct {
		name   string
		args   transports.Args
		reason trust.Reason
	}{
		{"another key's pin", transports.Args{argServerName: testServerName, trust.PinArg: other.BridgeArgs()[trust.PinArg]}, trust.PinMismatch},
		{"no pin, and the system roots", transports.Args{argServerName: testServerName}, trust.UnknownAuthority},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := newDialer(ln.Addr().String(), tt.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.Dial(testContext(t))
			if c != nil {
				c.Close()
			}
			var te *trust.Error
			if !errors.As(err, &te) || te.Reason != tt.reason {
				t.Fatalf("Dial: %v; want a *trust.Error, %v", err, tt.reason)
			}
			var qe *quicgo.TransportError
			if !errors.As(err, &qe) || qe.ErrorCode != 0x100+tlskit.BrowserAlert || qe.Remote {
				t.Fatalf("Dial: %v; want our CONNECTION_CLOSE with CRYPTO_ERROR 0x%x (certificate_unknown)", err, 0x100+tlskit.BrowserAlert)
			}
		})
	}
}
