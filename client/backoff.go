package client

import (
	"math/rand/v2"
	"time"
)

// Retry pacing when every bridge fails: 1 s, doubling, at most 60 s, so a blocked client
// neither spins nor waits long once the network opens again.
const (
	retryMin = time.Second
	retryMax = 60 * time.Second
)

// backoff paces rounds of attempts. Each wait is drawn from [d/2, d] ("equal jitter"),
// so that many clients cut off at once by the same block do not retry in step.
type backoff struct {
	failures int
}

// next returns how long to wait after one more failed round.
func (b *backoff) next() time.Duration {
	d := retryMin
	for i := 0; i < b.failures && d < retryMax; i++ {
		d *= 2
	}
	d = min(d, retryMax)
	b.failures++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.failures = 0 }
