package censor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/umbrella-edge/edge/transports"
)

// TLSFingerprint lets through only TLS flows whose ClientHello fingerprint is on an
// allow list of real browsers, as censors that block Tor's and Go's TLS by fingerprint
// do. Flows that are not TLS are none of its business.
type TLSFingerprint struct {
	Scope
	// Allow lists JA4 fingerprints and JA3 hashes (32 hex digits); nil means
	// BrowserJA4().
	Allow []string
	// Action is what a flow off the list gets, Drop (the default) or Reset.
	Action Verdict
}

// BrowserJA4 returns the JA4 fingerprints of the browsers whose hellos
// transports/tlskit captured (scripts/capture-hellos.sh): Chromium 156 and Firefox 153.
// JA4 sorts extensions, so Chrome's per-connection shuffle does not change it; JA3
// does not, which is why the default list has no JA3.
func BrowserJA4() []string {
	return []string{
		"t13d1517h2_8daaf6152771_cb7bf5808d99", // Chromium 156
		"t13d1617h2_86a278354501_3cbfd9057e0d", // Firefox 153
	}
}

func parseFingerprint(args transports.Args, s Scope) (*TLSFingerprint, error) {
	if err := args.Unknown("allow", "action"); err != nil {
		return nil, err
	}
	p := &TLSFingerprint{Scope: s, Allow: list(args, "allow")}
	var err error
	p.Action, err = action(args, Drop)
	return p, err
}

func (*TLSFingerprint) Name() string { return "tls-fingerprint" }

func (p *TLSFingerprint) String() string {
	return spec("tls-fingerprint", p.Scope, "allow", strings.Join(p.Allow, ","), "action", string(p.action()))
}

func (p *TLSFingerprint) action() Verdict {
	if p.Action == "" {
		return Drop
	}
	return p.Action
}

func (p *TLSFingerprint) allowList() []string {
	if p.Allow == nil {
		return BrowserJA4()
	}
	return p.Allow
}

func (*TLSFingerprint) readsHello() bool { return true }

func (p *TLSFingerprint) judgePayload(_ *Censor, _ Flow, fp *firstPayload) (Verdict, string) {
	h := fp.hello
	if h == nil {
		return "", ""
	}
	if !h.Complete {
		return p.action(), "ClientHello incomplete: no fingerprint to allow"
	}
	ja4, ja3 := h.JA4(), h.JA3Hash()
	allow := p.allowList()
	if slices.Contains(allow, ja4) || slices.Contains(allow, ja3) {
		return Pass, fmt.Sprintf("JA4 %s JA3 %s is on the allow list", ja4, ja3)
	}
	return p.action(), fmt.Sprintf("JA4 %s JA3 %s is not on the allow list", ja4, ja3)
}
