package censor

import (
	"bytes"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// FET is China's rule against fully encrypted traffic, as Wu et al. measured it
// ("How the Great Firewall of China Detects and Blocks Fully Encrypted Traffic",
// USENIX Security 2023): the first client→server payload of a TCP flow is exempt when
// it looks like anything but uniform random bytes; otherwise the flow is blocked with
// probability P, and the (client IP, server IP, server port) triplet is then dropped
// for Residual.
type FET struct {
	Scope
	// P is the probability a non-exempt flow is blocked: 0.263 measured, 1 by default
	// here so that tests are deterministic.
	P float64
	// Residual is how long a triplet stays blocked; 0 means 180 s, as measured.
	Residual time.Duration

	mu      sync.Mutex
	blocked map[fetTriplet]time.Time // triplet → end of its block
}

// fetResidual is how long Wu et al. saw a triplet stay blocked.
const fetResidual = 180 * time.Second

type fetTriplet struct {
	client, server netip.Addr
	port           uint16
}

func parseFET(args transports.Args, s Scope) (*FET, error) {
	if err := args.Unknown("p", "residual"); err != nil {
		return nil, err
	}
	p, err := probability(args, "p", 1)
	if err != nil {
		return nil, err
	}
	residual, err := duration(args, "residual", fetResidual)
	if err != nil {
		return nil, err
	}
	return &FET{Scope: s, P: p, Residual: residual}, nil
}

func (*FET) Name() string { return "fet" }

func (p *FET) String() string {
	return spec("fet", p.Scope, "p", strconv.FormatFloat(p.P, 'g', -1, 64), "residual", p.residual().String())
}

func (p *FET) residual() time.Duration {
	if p.Residual <= 0 {
		return fetResidual
	}
	return p.Residual
}

func tripletOf(f Flow) fetTriplet {
	return fetTriplet{f.Client.Addr(), f.Upstream.Addr(), f.Upstream.Port()}
}

func (p *FET) judgeConnect(_ *Censor, f Flow) (Verdict, string) {
	if f.Network != "tcp" {
		return "", ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.blocked[tripletOf(f)]
	if !ok {
		return "", ""
	}
	if left := time.Until(until); left > 0 {
		return Drop, fmt.Sprintf("residual block of %s→%s for %s more", f.Client.Addr(), f.Upstream, left.Round(time.Second))
	}
	delete(p.blocked, tripletOf(f))
	return "", ""
}

func (p *FET) judgePayload(_ *Censor, f Flow, fp *firstPayload) (Verdict, string) {
	if exempt, why := FETExempt(fp.first); exempt {
		return Pass, "exempt: " + why
	}
	if p.P < 1 && rand.Float64() >= p.P {
		return Pass, fmt.Sprintf("looks fully encrypted; spared (p=%g)", p.P)
	}
	p.mu.Lock()
	if p.blocked == nil {
		p.blocked = make(map[fetTriplet]time.Time)
	}
	p.blocked[tripletOf(f)] = time.Now().Add(p.residual())
	p.mu.Unlock()
	return Drop, fmt.Sprintf("looks fully encrypted (%d bytes); %s→%s blocked for %s", len(fp.first), f.Client.Addr(), f.Upstream, p.residual())
}

// FETExempt applies Wu et al.'s exemptions to a first payload, in their order, and says
// which one matched. Ratios are compared in integers, so the published boundaries
// (3.4 and 4.6 set bits per byte, 50 %) are exact.
func FETExempt(payload []byte) (bool, string) {
	n := len(payload)
	if n == 0 {
		return true, "empty"
	}
	ones := 0
	for _, b := range payload {
		ones += bits.OnesCount8(b)
	}
	// Ex1: random bytes have 4 set bits per byte on average.
	if 10*ones <= 34*n {
		return true, fmt.Sprintf("popcount/byte %.3f <= 3.4", float64(ones)/float64(n))
	}
	if 10*ones >= 46*n {
		return true, fmt.Sprintf("popcount/byte %.3f >= 4.6", float64(ones)/float64(n))
	}
	// Ex2: the first six bytes printable.
	if n >= 6 && countPrintable(payload[:6]) == 6 {
		return true, "first 6 bytes printable"
	}
	// Ex3: more than half the bytes printable.
	if p := countPrintable(payload); 2*p > n {
		return true, fmt.Sprintf("%d of %d bytes printable (> 50%%)", p, n)
	}
	// Ex4: a run of more than 20 printable bytes.
	if run := longestPrintableRun(payload); run > 20 {
		return true, fmt.Sprintf("run of %d printable bytes (> 20)", run)
	}
	// Ex5: the start of TLS or HTTP.
	if n >= 3 && (payload[0] == 0x16 || payload[0] == 0x17) && payload[1] == 0x03 && payload[2] <= 0x09 {
		return true, "starts like TLS"
	}
	for _, m := range [][]byte{[]byte("GET "), []byte("PUT "), []byte("POST "), []byte("HEAD ")} {
		if bytes.HasPrefix(payload, m) {
			return true, "starts like HTTP"
		}
	}
	return false, ""
}

func isPrintable(b byte) bool { return 0x20 <= b && b <= 0x7e }

func countPrintable(p []byte) int {
	n := 0
	for _, b := range p {
		if isPrintable(b) {
			n++
		}
	}
	return n
}

func longestPrintableRun(p []byte) int {
	best, run := 0, 0
	for _, b := range p {
		if isPrintable(b) {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}
