package lab

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/probes/censor"
	"github.com/umbrella-edge/edge/transports/trust"
)

// browserReaction is what Chromium 156 does when a TLS 1.3 server shows it a
// certificate it does not trust, as the censor's mitm policy records it: a
// change_cipher_spec and the encrypted alert certificate_unknown in one segment,
// then a FIN, and nothing else. TestChromiumRefusesAsOurClients measures it again.
var browserReaction = censor.Reaction{
	Alert:   "unknown certificate",
	Records: []censor.Record{{Type: censor.RecordChangeCipherSpec, Length: 1}, {Type: censor.RecordApplicationData, Length: 19}},
	Close:   "fin",
}

// browserQUICReaction is what Chromium 156 does over QUIC, less its reason phrase: a
// CONNECTION_CLOSE with CRYPTO_ERROR 0x12e, certificate_unknown. Chromium's phrase
// tells BoringSSL's error stack ("199:TLS handshake failure (ENCRYPTION_HANDSHAKE) 46:
// certificate unknown. SSLErrorStack:[handshake.cc:320] error:1000007d:…"); quic-go
// sends none, and cannot be told one.
var browserQUICReaction = censor.Reaction{Alert: "unknown certificate", Close: "connection_close"}

// asBrowser is r less what our clients cannot make like Chromium's: a QUIC reason
// phrase.
func asBrowser(r censor.Reaction) censor.Reaction {
	r.Phrase = ""
	return r
}

// TestMITMSeesNoApplicationData has the censor intercept every TLS carrier with its own
// CA's certificates (Kazakhstan in 2019, Raman et al. IMC 2020), the gateway's own
// lines (pinned) and those through the CDN (checked against the lab's CA file) alike.
// Each client reports a certificate failure, and the censor sees on every flow what a
// browser would have sent it: an alert, a FIN, no application data.
func TestMITMSeesNoApplicationData(t *testing.T) {
	l := startLab(t, Options{
		Transports: []string{"utls", "webtunnel", "websocket", "meek", "quic"},
		Policies:   parsed("mitm:names=*")(nil),
	})
	lines := l.Lines()
	if got := labels(lines); !reflect.DeepEqual(got, []string{"utls", "webtunnel", "websocket", "meek", "quic", "websocket-cdn", "meek-cdn"}) {
		t.Fatalf("lines %v; want each TLS transport's, and the CDN's", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ln := range lines {
		t.Run(ln.Route.Name, func(t *testing.T) {
			c, err := l.Client(client.Config{Bridges: []bridge.Line{ln.Bridge}, HandshakeTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Connect(ctx)
			c.Close()
			var te *trust.Error
			if !errors.As(err, &te) {
				t.Fatalf("Connect through the interception: %v; want a *trust.Error", err)
			}
			if missing := waitDecisions(l, []string{ln.Route.Name}, verdictOf("mitm", censor.Refused)); len(missing) > 0 {
				t.Fatalf("the censor recorded no refusal:%s", decisionsOn(l, missing))
			}
			if err := refusedAsABrowser(l.Censor.Decisions(), ln.Route); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// reactsAsABrowser reports whether r is the reaction Chromium showed on route's network
// when measured (browserReaction, browserQUICReaction).
func reactsAsABrowser(r censor.Reaction, route censor.Route) bool {
	browser := browserReaction
	if route.Network == "udp" {
		browser = browserQUICReaction
	}
	return reflect.DeepEqual(asBrowser(r), browser)
}

// refusedAsABrowser checks every interception on route: each ended in a refusal (so
// no client ever finished a handshake with the censor and sent it data), and each
// refusal was a browser's.
func refusedAsABrowser(ds []censor.Decision, route censor.Route) error {
	browser := browserReaction
	if route.Network == "udp" {
		browser = browserQUICReaction
	}
	intercepted, refused := map[uint64]bool{}, map[uint64]bool{}
	for _, d := range ds {
		if d.Flow.Route != route.Name || d.Policy != "mitm" {
			continue
		}
		switch d.Verdict {
		case censor.Intercepted:
			intercepted[d.Flow.ID] = true
		case censor.Refused:
			refused[d.Flow.ID] = true
			if d.Reaction == nil || !reactsAsABrowser(*d.Reaction, route) {
				return fmt.Errorf("flow #%d: the client reacted %v; a browser reacts %v", d.Flow.ID, d.Reaction, browser)
			}
		}
	}
	for id := range intercepted {
		if !refused[id] {
			return fmt.Errorf("flow #%d was intercepted and not refused: the client accepted the censor's certificate", id)
		}
	}
	return nil
}
