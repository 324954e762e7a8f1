package lab

import (
	"slices"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/probes/censor"
)

// trialOrder is the order of the bridge lines of issue 11's trial, one per transport,
// as a new user might have been handed them.
var trialOrder = []string{"tcp", "utls", "obfs4", "webtunnel", "websocket" + CDNSuffix, "meek" + CDNSuffix, "pt", "quic", "quicobfs"}

// OnePerTransport returns one line per transport, as a new user holds them: websocket
// and meek through the CDN (their family is the CDN's), the others direct, in the order
// of issue 11's trial. Lines the lab lacks (no CDN, no pt) are left out.
func (l *Lab) OnePerTransport() []Line {
	lines := l.Lines()
	var out []Line
	for _, name := range trialOrder {
		if i := slices.IndexFunc(lines, func(ln Line) bool { return ln.Route.Name == name }); i >= 0 {
			out = append(out, lines[i])
		}
	}
	return out
}

// Family is the client's family of ln's transport ("stream-random", "tls", "cdn",
// "udp").
func Family(ln Line) string { return client.FamilyOf(ln.Bridge) }

// OnlyOpen returns the censor's policies that leave open only the lines of lines that
// keep selects: every other TCP route has each flow dropped silently after its first
// segment (a shutdown's whitelist that allows nothing), every other UDP route its
// datagrams dropped.
func OnlyOpen(lines []Line, keep func(Line) bool) []censor.Policy {
	var blocked []string
	for _, ln := range lines {
		if !keep(ln) {
			blocked = append(blocked, ln.Route.Name)
		}
	}
	if len(blocked) == 0 {
		return nil
	}
	return []censor.Policy{&censor.Whitelist{Scope: censor.Scope{Routes: blocked}}}
}
