package client

import (
	"bytes"
	"slices"
	"time"
)

// Head starts: a session handshake over a TLS transport takes about three round trips
// (TCP, TLS, session hello), so on a slow network the next bridge waits 3·RTT rather
// than racing a bridge that is merely slow; never more than 2 s.
const (
	defaultHeadStart = 250 * time.Millisecond
	maxHeadStart     = 2 * time.Second
	defaultParallel  = 3
)

// plan is the order of one round of attempts and the head start between them.
type plan struct {
	order     []int // bridge indexes, best first
	headStart time.Duration
}

// planRound orders the bridges for a round on network:
//  1. the bridge that last carried data on this network, unless it is demoted;
//  2. bridges that are not demoted, in config order, those of another transport than
//     avoid (the one that just died) first;
//  3. demoted bridges, the one whose demotion ends soonest first.
//
// When a session waits to resume, bridges to its gateway go before all others: only
// they carry the session on; a bridge to another gateway means a new session.
func (c *Client) planRound(network string, gateway []byte, avoid string, now time.Time) plan {
	last, rtt, haveLast := c.mem.lastWorked(network, now)
	type rank struct {
		idx     int
		group   int
		until   time.Time
		other   bool // another gateway than the waiting session's
		avoided bool
	}
	ranks := make([]rank, len(c.cfg.Bridges))
	for i, b := range c.cfg.Bridges {
		key := c.keys[i]
		r := rank{idx: i, group: 1, avoided: avoid != "" && b.Transport == avoid}
		r.other = gateway != nil && !bytes.Equal(gateway, b.Key)
		if r.until = c.mem.demoted(network, key, now); !r.until.IsZero() {
			r.group = 2
		} else if haveLast && key == last {
			r.group = 0
		}
		ranks[i] = r
	}
	slices.SortStableFunc(ranks, func(a, b rank) int {
		switch {
		case a.other != b.other:
			return boolCmp(a.other, b.other)
		case a.group != b.group:
			return a.group - b.group
		case a.group == 2:
			return a.until.Compare(b.until)
		case a.avoided != b.avoided:
			return boolCmp(a.avoided, b.avoided)
		}
		return 0
	})
	p := plan{headStart: c.cfg.HeadStart}
	for _, r := range ranks {
		p.order = append(p.order, r.idx)
	}
	if haveLast {
		p.headStart = max(p.headStart, min(3*rtt, maxHeadStart))
	}
	return p
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
