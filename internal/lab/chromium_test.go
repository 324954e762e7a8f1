package lab

import (
	"context"
	"net"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/probes/censor"
)

// chromiumBinary is where Debian installs Chromium (.ci/run installs it).
const chromiumBinary = "/usr/bin/chromium"

// visitWithChromium has headless Chromium load https://name:port/ with name resolved
// to 127.0.0.1, over TCP or, with quic, over QUIC alone, and returns once it has given
// up on the page. The flags run Chromium as root on a machine without a network: no
// sandbox, no GPU, and none of its own connections to Google's services.
func visitWithChromium(ctx context.Context, t *testing.T, name, port string, quic bool) {
	t.Helper()
	if _, err := os.Stat(chromiumBinary); err != nil {
		t.Fatalf("%s: %v (apt-get install chromium)", chromiumBinary, err)
	}
	origin := net.JoinHostPort(name, port)
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--host-resolver-rules=MAP " + name + " 127.0.0.1"}
	if quic {
		args = append(args, "--origin-to-force-quic-on="+origin)
	} else {
		args = append(args, "--disable-quic")
	}
	cmd := exec.CommandContext(ctx, chromiumBinary, append(args, "--dump-dom", "https://"+origin+"/")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
}

// TestChromiumRefusesAsOurClients sends Chromium and our client through the same
// interception by the censor's mitm policy, over TCP (utls) and over QUIC (quic), and
// wants the censor to see the same reaction from both: the one browserReaction
// (browserQUICReaction) records.
func TestChromiumRefusesAsOurClients(t *testing.T) {
	l := startLab(t, Options{Transports: []string{"utls", "quic"}, NoCDN: true, Policies: parsed("mitm:names=*")(nil)})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, ln := range l.Lines() {
		t.Run(ln.Route.Name, func(t *testing.T) {
			_, port, err := net.SplitHostPort(ln.Route.Listen)
			if err != nil {
				t.Fatal(err)
			}
			visitWithChromium(ctx, t, ServerName, port, ln.Route.Network == "udp")
			chromium := waitRefusals(t, l, ln.Route, 1)
			for _, r := range chromium {
				t.Logf("Chromium: %v", r)
			}
			// Chromium has exited, so every flow of its has its ID by now: the flows
			// after the last of them are our client's.
			ours := lastFlowID(l)

			c, err := l.Client(client.Config{Bridges: []bridge.Line{ln.Bridge}, HandshakeTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Connect(ctx); err == nil {
				t.Fatal("our client connected through the interception")
			}
			c.Close()
			all := waitRefusals(t, l, ln.Route, len(chromium)+1)
			t.Logf("our client (and any later Chromium refusal): %v", all[len(chromium):])
			// Chromium's reaction is the one browserReaction records, on at least one
			// of its flows: a spare connection it abandons once another was refused
			// may end with a bare FIN, as Chromium did under a starved CPU. Every flow
			// of our client's is held to that reaction.
			browser, client := splitFlows(l.Censor.Decisions(), ours)
			if !slices.ContainsFunc(reactions(browser, ln.Route.Name), func(r censor.Reaction) bool { return reactsAsABrowser(r, ln.Route) }) {
				t.Errorf("no flow of Chromium's reacted as browserReaction says: measure again if Chromium changed")
			}
			if len(reactions(client, ln.Route.Name)) == 0 {
				t.Fatalf("the censor recorded no refusal by our client:%s", decisionsOn(l, []string{ln.Route.Name}))
			}
			if err := refusedAsABrowser(client, ln.Route); err != nil {
				t.Errorf("%v (browserReaction says what Chromium did when measured: measure again if Chromium changed)", err)
			}
		})
	}
}

// waitRefusals waits until the censor has recorded at least n refusals on route, and
// returns their reactions.
func waitRefusals(t *testing.T, l *Lab, route censor.Route, n int) []censor.Reaction {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rs := reactions(l.Censor.Decisions(), route.Name); len(rs) >= n {
			return rs
		}
	}
	t.Fatalf("fewer than %d refusals recorded:%s", n, decisionsOn(l, []string{route.Name}))
	return nil
}

// reactions are the clients' reactions to interceptions on route, in the censor's
// order.
func reactions(ds []censor.Decision, route string) []censor.Reaction {
	var out []censor.Reaction
	for _, d := range ds {
		if d.Flow.Route == route && d.Verdict == censor.Refused && d.Reaction != nil {
			out = append(out, *d.Reaction)
		}
	}
	return out
}

// lastFlowID is the highest ID of a flow the censor has relayed or decided on so far.
func lastFlowID(l *Lab) uint64 {
	var last uint64
	for _, f := range l.Censor.Flows() {
		last = max(last, f.ID)
	}
	for _, d := range l.Censor.Decisions() {
		last = max(last, d.Flow.ID)
	}
	return last
}

// splitFlows splits decisions into those on flows up to last and those after it.
func splitFlows(ds []censor.Decision, last uint64) (upTo, after []censor.Decision) {
	for _, d := range ds {
		if d.Flow.ID <= last {
			upTo = append(upTo, d)
		} else {
			after = append(after, d)
		}
	}
	return upTo, after
}
