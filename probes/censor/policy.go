package censor

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/umbrella-edge/edge/transports/tlskit"
)

// A Policy is one published censorship technique. Build one with ParsePolicy or as a
// value (&FET{P: 1}); a policy keeps its own state (FET's residual blocks, the servers
// ActiveProbe flagged), so passing the same value to SetPolicies again keeps it.
//
// A flow is judged by the policies in force when it starts; SetPolicies changes what
// new flows meet, and Kill ends flows already running.
type Policy interface {
	// Name is the policy's name in --policy ("fet", "sni", …).
	Name() string
	// String is the policy in --policy syntax, parameters included.
	String() string
	scope() Scope
}

// Scope limits a policy to some routes or transport labels; empty fields mean every
// flow. In --policy syntax: route=NAME,… and transport=LABEL,…, on any policy.
type Scope struct {
	Routes     []string
	Transports []string
}

func (s Scope) scope() Scope { return s }

func (s Scope) covers(f Flow) bool {
	return (len(s.Routes) == 0 || slices.Contains(s.Routes, f.Route)) &&
		(len(s.Transports) == 0 || slices.Contains(s.Transports, f.Transport))
}

func (s Scope) spec() string {
	var b strings.Builder
	if len(s.Routes) > 0 {
		b.WriteString(":route=" + strings.Join(s.Routes, ","))
	}
	if len(s.Transports) > 0 {
		b.WriteString(":transport=" + strings.Join(s.Transports, ","))
	}
	return b.String()
}

// The moments a policy can act at. A policy implements those it needs; a verdict of ""
// means the policy has nothing to say about this flow, and is not logged.
type (
	// connectJudge judges a flow before anything is relayed (TCP accept, first UDP
	// datagram).
	connectJudge interface {
		judgeConnect(c *Censor, f Flow) (Verdict, string)
	}
	// payloadJudge judges a TCP flow's first client→server payload.
	payloadJudge interface {
		judgePayload(c *Censor, f Flow, p *firstPayload) (Verdict, string)
	}
	// datagramJudge judges a UDP flow's first datagram.
	datagramJudge interface {
		judgeDatagram(c *Censor, f Flow, d []byte) (Verdict, string)
	}
	// datagramsJudge judges a UDP flow from its first client datagrams: it returns
	// the flow's own judge (nil: nothing to say), which gets the first datagram and,
	// while it answers undecided, each next one. Those datagrams are relayed while it
	// reads them, as a middlebox that reads copies does; a block stops what follows.
	datagramsJudge interface {
		judgeDatagrams(c *Censor, f Flow) func(d []byte) (Verdict, string)
	}
	// shaper limits a TCP or UDP flow's bytes for its whole life.
	shaper interface {
		shape(f Flow, s *shaping) (Verdict, string)
	}
	// helloReader needs a whole ClientHello, not just the first segment, so the
	// censor reassembles one that spans segments before judging.
	helloReader interface {
		readsHello() bool
	}
)

// firstPayload is what a TCP flow's client sent before the censor judged it.
type firstPayload struct {
	// first is the first read alone: one segment, all the GFW's FET rule looks at.
	first []byte
	// data is everything buffered: first, plus the rest of a ClientHello that spans
	// segments.
	data []byte
	// hello is the ClientHello data starts with, nil if it starts none.
	hello *tlskit.ClientHello
}

// ErrUnknownPolicy is wrapped when a --policy names no policy this package has.
var ErrUnknownPolicy = errors.New("unknown policy")

// A PolicyError is a --policy that cannot be used; Err names the bad parameter.
type PolicyError struct {
	Spec string
	Err  error
}

func (e *PolicyError) Error() string { return fmt.Sprintf("policy %q: %v", e.Spec, e.Err) }
func (e *PolicyError) Unwrap() error { return e.Err }
