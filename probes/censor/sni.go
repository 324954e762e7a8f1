package censor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/umbrella-edge/edge/transports"
)

// SNI blocks TLS flows by the server name of their ClientHello, with a block list or
// an allow list, over TCP and, unless SkipQUIC, in the first datagram of a QUIC flow,
// whose Initial anyone can decrypt (China since 2024: Zohaib et al., USENIX Security
// 2025). Flows that are not TLS are none of its business.
type SNI struct {
	Scope
	// Block lists blocked names; Allow, if set instead, the only names that pass. A
	// name covers its subdomains.
	Block, Allow []string
	// Action is what a TCP flow gets, Reset (the default, as the GFW sends) or Drop.
	// A QUIC flow is dropped.
	Action Verdict
	// SkipQUIC leaves QUIC flows alone.
	SkipQUIC bool
}

func parseSNI(args transports.Args, s Scope) (*SNI, error) {
	if err := args.Unknown("block", "allow", "action", "quic"); err != nil {
		return nil, err
	}
	p := &SNI{Scope: s, Block: list(args, "block"), Allow: list(args, "allow")}
	if (len(p.Block) == 0) == (len(p.Allow) == 0) {
		return nil, &transports.ArgError{Key: "block", Err: errors.New("give block=NAMES or allow=NAMES, one of them")}
	}
	var err error
	if p.Action, err = action(args, Reset); err != nil {
		return nil, err
	}
	quic, err := args.Bool("quic", true)
	p.SkipQUIC = !quic
	return p, err
}

func (*SNI) Name() string { return "sni" }

func (p *SNI) String() string {
	return spec("sni", p.Scope, "block", strings.Join(p.Block, ","), "allow", strings.Join(p.Allow, ","),
		"action", string(p.action()), "quic", strconv.FormatBool(!p.SkipQUIC))
}

func (p *SNI) action() Verdict {
	if p.Action == "" {
		return Reset
	}
	return p.Action
}

func (*SNI) readsHello() bool { return true }

// blocked judges a server name.
func (p *SNI) blocked(name string) (bool, string) {
	shown := strconv.Quote(name)
	if name == "" {
		shown = "no SNI"
	}
	if len(p.Allow) > 0 {
		if matchName(name, p.Allow) {
			return false, shown + " is on the allow list"
		}
		return true, shown + " is not on the allow list"
	}
	if matchName(name, p.Block) {
		return true, shown + " is on the block list"
	}
	return false, shown + " is not on the block list"
}

func (p *SNI) judgePayload(_ *Censor, _ Flow, fp *firstPayload) (Verdict, string) {
	if fp.hello == nil {
		return "", ""
	}
	if fp.hello.ServerName == "" && !fp.hello.Complete {
		return Pass, "no SNI in the part of the ClientHello that arrived"
	}
	blocked, why := p.blocked(fp.hello.ServerName)
	if blocked {
		return p.action(), "TLS: " + why
	}
	return Pass, "TLS: " + why
}

func (p *SNI) judgeDatagram(_ *Censor, _ Flow, d []byte) (Verdict, string) {
	if p.SkipQUIC {
		return "", ""
	}
	crypto, err := quicClientHello(d)
	if err != nil {
		return "", ""
	}
	h, err := parseHelloMessage(crypto)
	if h == nil {
		return Pass, fmt.Sprintf("QUIC Initial without a readable ClientHello: %v", err)
	}
	if h.ServerName == "" && !h.Complete {
		return Pass, "QUIC: no SNI in the first datagram"
	}
	blocked, why := p.blocked(h.ServerName)
	if blocked {
		return Drop, "QUIC: " + why
	}
	return Pass, "QUIC: " + why
}
