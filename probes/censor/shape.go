package censor

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// Freeze stops a TCP connection's server→client bytes silently after a budget, the
// rest of the connection (client→server, keepalives) still passing: Russia's TSPU has
// done this to foreign servers since 2025, after 14–20 KB (net4people/bbs reports).
type Freeze struct {
	Scope
	// Min and Max bound the budget in bytes, drawn uniformly per connection;
	// zero means 14–20 KiB.
	Min, Max int64
}

const (
	freezeMin = 14 << 10
	freezeMax = 20 << 10
)

func parseFreeze(args transports.Args, s Scope) (*Freeze, error) {
	if err := args.Unknown("bytes"); err != nil {
		return nil, err
	}
	min, max, err := byteRange(args, "bytes", freezeMin, freezeMax)
	if err != nil {
		return nil, err
	}
	return &Freeze{Scope: s, Min: min, Max: max}, nil
}

func (*Freeze) Name() string { return "freeze" }

func (p *Freeze) String() string {
	min, max := p.budget()
	return spec("freeze", p.Scope, "bytes", fmt.Sprintf("%d-%d", min, max))
}

func (p *Freeze) budget() (int64, int64) {
	if p.Min <= 0 {
		return freezeMin, freezeMax
	}
	return p.Min, max(p.Min, p.Max)
}

func (p *Freeze) shape(f Flow, s *shaping) (Verdict, string) {
	if f.Network != "tcp" {
		return "", ""
	}
	min, max := p.budget()
	n := min + rand.Int64N(max-min+1)
	if s.freezeAt == 0 || n < s.freezeAt {
		s.freezeAt = n
	}
	return Frozen, fmt.Sprintf("armed: server→client stops after %d bytes", n)
}

// Throttle polices a flow to a rate in each direction. Over the TCP relay the censor
// pauses the copy, which the sender's TCP sees as the loss a policer causes; UDP
// datagrams over the rate are dropped.
type Throttle struct {
	Scope
	// Rate is in bit/s; 0 means 140 kbit/s.
	Rate int64
	// Burst is in bytes; 0 means 100 ms at Rate, at least 1500.
	Burst int64
}

const throttleRate = 140_000

func parseThrottle(args transports.Args, s Scope) (*Throttle, error) {
	if err := args.Unknown("rate", "burst"); err != nil {
		return nil, err
	}
	rate, err := bitRate(args, "rate", throttleRate)
	if err != nil {
		return nil, err
	}
	burst, _, err := byteRange(args, "burst", 0, 0)
	if err != nil {
		return nil, err
	}
	return &Throttle{Scope: s, Rate: rate, Burst: burst}, nil
}

func (*Throttle) Name() string { return "throttle" }

func (p *Throttle) String() string {
	rate, burst := p.limits()
	return spec("throttle", p.Scope, "rate", strconv.FormatInt(rate, 10), "burst", strconv.FormatInt(burst, 10))
}

// limits returns the rate in bit/s and the burst in bytes.
func (p *Throttle) limits() (int64, int64) {
	rate := p.Rate
	if rate <= 0 {
		rate = throttleRate
	}
	burst := p.Burst
	if burst <= 0 {
		burst = max(rate/8/10, 1500)
	}
	return rate, burst
}

func (p *Throttle) shape(_ Flow, s *shaping) (Verdict, string) {
	rate, burst := p.limits()
	if s.rate == 0 || rate/8 < s.rate {
		s.rate, s.burst = rate/8, burst
	}
	return Throttled, fmt.Sprintf("policed to %d bit/s each way, burst %d bytes", rate, burst)
}

// shaping is what a flow's shapers asked for.
type shaping struct {
	freezeAt int64 // server→client budget in bytes; 0 is none
	rate     int64 // bytes per second each way; 0 is unlimited
	burst    int64
	// lagUp and lagDown delay client→server and server→client.
	lagUp, lagDown lag
}

func (s shaping) bucket() *tokenBucket {
	if s.rate == 0 {
		return nil
	}
	return newTokenBucket(s.rate, s.burst)
}

// The two directions are policed apart.
func (s shaping) up() *tokenBucket   { return s.bucket() }
func (s shaping) down() *tokenBucket { return s.bucket() }

func (c *Censor) shapingFor(ps []Policy, f Flow) shaping {
	var s shaping
	c.judge(ps, f, func(p Policy) (Verdict, string) {
		if sh, ok := p.(shaper); ok {
			return sh.shape(f, &s)
		}
		return "", ""
	})
	return s
}

// A tokenBucket lets rate bytes per second through, after an initial burst.
type tokenBucket struct {
	rate, burst float64
	grain       int // the least a waiting writer is given, so a slow rate is not byte by byte

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newTokenBucket(rate, burst int64) *tokenBucket {
	grain := int(min(burst, max(rate/20, 1)))
	return &tokenBucket{rate: float64(rate), burst: float64(burst), grain: grain, tokens: float64(burst), last: time.Now()}
}

func (b *tokenBucket) refill(now time.Time) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// take waits until some of n bytes may pass and returns how many; 0 when stop closes.
func (b *tokenBucket) take(n int, stop <-chan struct{}) int {
	want := min(n, b.grain)
	for {
		b.mu.Lock()
		b.refill(time.Now())
		if b.tokens >= float64(want) {
			k := min(n, int(b.tokens))
			b.tokens -= float64(k)
			b.mu.Unlock()
			return k
		}
		wait := time.Duration((float64(want) - b.tokens) / b.rate * float64(time.Second))
		b.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return 0
		case <-t.C:
		}
	}
}

// allow takes n bytes if they may pass now, for a datagram that is dropped if not.
func (b *tokenBucket) allow(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(time.Now())
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}
