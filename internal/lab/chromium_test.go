package lab

import (
	"context"
	"net"
	"os"
	"os/exec"
	"reflect"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/probes/censor"
)

// chromiumBinary is where Debian installs Chromium (.ci/run installs it).
const chromiumBinary = "/usr/bin/chromium"

// visitWithChromium has headless Chromium load https://name:port/ with name resolved
// to 127.0.0.1, and returns once it has given up on the page. The flags are those that
// run Chromium as root on a machine without a network: no sandbox, no GPU, and none
// of its own connections to Google's services.
func visitWithChromium(ctx context.Context, t *testing.T, name, port string) {
	t.Helper()
	if _, err := os.Stat(chromiumBinary); err != nil {
		t.Fatalf("%s: %v (apt-get install chromium)", chromiumBinary, err)
	}
	cmd := exec.CommandContext(ctx, chromiumBinary,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(),
		"--host-resolver-rules=MAP "+name+" 127.0.0.1",
		"--dump-dom", "https://"+net.JoinHostPort(name, port)+"/")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
}

// TestChromiumRefusesAsOurClients sends Chromium and our utls client through the same
// interception by the censor's mitm policy, and wants the censor to see the same
// reaction from both: the one browserReaction records.
func TestChromiumRefusesAsOurClients(t *testing.T) {
	l := startLab(t, Options{Transports: []string{"utls"}, NoCDN: true, Policies: parsed("mitm:names=*")(nil)})
	ln := l.Lines()[0]
	_, port, err := net.SplitHostPort(ln.Route.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	visitWithChromium(ctx, t, ServerName, port)
	chromium := waitRefusals(t, l, 1)
	for _, r := range chromium {
		t.Logf("Chromium: %v", r)
	}

	c, err := l.Client(client.Config{Bridges: []bridge.Line{ln.Bridge}, HandshakeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err == nil {
		t.Fatal("our client connected through the interception")
	}
	c.Close()
	all := waitRefusals(t, l, len(chromium)+1)
	t.Logf("our client and any later Chromium refusal: %v", all[len(chromium):])
	// Chromium opens more than one connection, and a late one may be recorded after
	// ours; both are held against the one reaction.
	for _, r := range all {
		if !reflect.DeepEqual(r, browserReaction) {
			t.Errorf("a client reacted %v; Chromium reacts %v (browserReaction; measure again if Chromium changed)", r, browserReaction)
		}
	}
	if err := refusedAsABrowser(l.Censor.Decisions(), ln.Route.Name); err != nil {
		t.Error(err)
	}
}

// waitRefusals waits until the censor has recorded at least n refusals, and returns
// their reactions.
func waitRefusals(t *testing.T, l *Lab, n int) []censor.Reaction {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rs := reactions(l.Censor.Decisions()); len(rs) >= n {
			return rs
		}
	}
	t.Fatalf("fewer than %d refusals recorded:%s", n, decisionsOn(l, []string{l.Lines()[0].Route.Name}))
	return nil
}

// reactions are the clients' reactions to interceptions, in the censor's order.
func reactions(ds []censor.Decision) []censor.Reaction {
	var out []censor.Reaction
	for _, d := range ds {
		if d.Verdict == censor.Refused && d.Reaction != nil {
			out = append(out, *d.Reaction)
		}
	}
	return out
}
