package censor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// SNI blocks TLS flows by the server name of their ClientHello, with a block list or
// an allow list, over TCP and, unless SkipQUIC, in the first datagram of a QUIC flow,
// whose Initial anyone can decrypt (China since 2024: Zohaib et al., USENIX Security
// 2025), or with ReassembleQUIC in its first few Initials. Flows that are not TLS are
// none of its business.
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
	// ReassembleQUIC reads a QUIC flow's ClientHello from the CRYPTO frames of its
	// first quicReassembleDatagrams client datagrams, not from the first datagram
	// alone as the GFW was measured to: Chrome and quic-go split the ClientHello, and
	// its server name, over several Initials, which only such a censor reads.
	ReassembleQUIC bool
}

// quicReassembleDatagrams bounds the datagrams a reassembling censor reads of one
// flow: a client's first flight, a ClientHello of a few KB (post-quantum key shares
// included) in 1200–1500-byte Initials, fits in it with room to spare.
const quicReassembleDatagrams = 4

func parseSNI(args transports.Args, s Scope) (*SNI, error) {
	if err := args.Unknown("block", "allow", "action", "quic", "quic-reassemble"); err != nil {
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
	if err != nil {
		return nil, err
	}
	p.SkipQUIC = !quic
	if p.ReassembleQUIC, err = args.Bool("quic-reassemble", false); err != nil {
		return nil, err
	}
	if p.SkipQUIC && p.ReassembleQUIC {
		return nil, &transports.ArgError{Key: "quic-reassemble", Err: errors.New("reassembles QUIC flows that quic=false leaves alone")}
	}
	return p, nil
}

func (*SNI) Name() string { return "sni" }

func (p *SNI) String() string {
	reassemble := ""
	if p.ReassembleQUIC {
		reassemble = "true"
	}
	return spec("sni", p.Scope, "block", strings.Join(p.Block, ","), "allow", strings.Join(p.Allow, ","),
		"action", string(p.action()), "quic", strconv.FormatBool(!p.SkipQUIC), "quic-reassemble", reassemble)
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

// judgeDatagrams reads a QUIC flow's ClientHello from its first datagram, or with
// ReassembleQUIC from as many of its first client datagrams as it takes, and judges
// its server name.
func (p *SNI) judgeDatagrams(_ *Censor, _ Flow) func(d []byte) (Verdict, string) {
	if p.SkipQUIC {
		return nil
	}
	limit := 1
	if p.ReassembleQUIC {
		limit = quicReassembleDatagrams
	}
	var r initialReader
	seen := 0
	return func(d []byte) (Verdict, string) {
		seen++
		crypto, err := r.add(d)
		switch {
		case err != nil && seen == 1:
			return "", "" // not QUIC: none of this policy's business
		case err != nil:
			return Pass, fmt.Sprintf("QUIC: no SNI in the ClientHello's first %d bytes, then %v", len(joinCrypto(r.frags)), err)
		}
		h, err := tlskit.ParseClientHelloMessage(crypto)
		if h == nil && !errors.Is(err, tlskit.ErrTruncatedHello) {
			return Pass, fmt.Sprintf("QUIC Initial without a readable ClientHello: %v", err)
		}
		if h == nil || h.ServerName == "" && !h.Complete {
			if seen < limit {
				return undecided, ""
			}
			if limit == 1 {
				return Pass, "QUIC: no SNI in the first datagram"
			}
			return Pass, fmt.Sprintf("QUIC: no SNI in the first %d datagrams", seen)
		}
		where := ""
		if seen > 1 {
			where = fmt.Sprintf(" (ClientHello reassembled from %d datagrams)", seen)
		}
		blocked, why := p.blocked(h.ServerName)
		if blocked {
			return Drop, "QUIC: " + why + where
		}
		return Pass, "QUIC: " + why + where
	}
}
