package client

import (
	"bytes"
	"slices"
	"time"
)

// Head starts: a session handshake over a TLS transport takes about three round trips
// (TCP, TLS, session hello), so on a slow network the next bridge waits 3·RTT rather
// than racing a bridge that is merely slow; never more than 2 s. Four attempts in
// flight is one per family of the first round (stream, TLS, CDN, UDP): attempts of
// different families cost little, since they do not share what a censor blocks.
const (
	defaultHeadStart = 250 * time.Millisecond
	maxHeadStart     = 2 * time.Second
	defaultParallel  = 4
)

// plan is the order of one round of attempts, the head start between them, and the
// round trip the network is known to have.
type plan struct {
	order     []int // bridge indexes, best first
	headStart time.Duration
	rtt       time.Duration
	rttKnown  bool
}

// planRound orders the bridges for a round on network:
//  1. the bridge that last carried data on this network, unless it or its family is
//     demoted;
//  2. bridges that are not demoted, by family: the best bridge of each family (in
//     config order) before a second of any; the family that just died (avoid) after
//     all others, and before it those that met a censor pattern lately (a freeze, a
//     reset, silence), so that a censor's rule is not met once per transport;
//  3. demoted bridges, and those of demoted families, the one whose demotion ends
//     soonest first.
//
// When a session waits to resume, bridges to its gateway go before all others: only
// they carry the session on; a bridge to another gateway means a new session.
func (c *Client) planRound(network string, gateway []byte, avoid family, now time.Time) plan {
	last, rtt, haveLast := c.mem.lastWorked(network, now)
	type rank struct {
		idx     int
		group   int
		until   time.Time
		other   bool // another gateway than the waiting session's
		avoided bool
		struck  bool // its family met a censor pattern lately
		tier    int  // how many bridges of its family come before it
		family  int  // its family's place, by its first bridge in config order
	}
	ranks := make([]rank, len(c.cfg.Bridges))
	tiers, places := map[family]int{}, map[family]int{}
	for i, b := range c.cfg.Bridges {
		f := c.families[i]
		r := rank{idx: i, group: 1, avoided: avoid != "" && f == avoid, struck: c.mem.familyStruck(network, f, now)}
		r.other = gateway != nil && !bytes.Equal(gateway, b.Key)
		r.until = later(c.mem.demoted(network, c.keys[i], now), c.mem.familyDemoted(network, f, now))
		switch {
		case !r.until.IsZero():
			r.group = 2
		case haveLast && c.keys[i] == last:
			r.group = 0
		default:
			r.tier = tiers[f]
			tiers[f]++
		}
		if _, ok := places[f]; !ok {
			places[f] = len(places)
		}
		r.family = places[f]
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
		case a.struck != b.struck:
			return boolCmp(a.struck, b.struck)
		case a.tier != b.tier:
			return a.tier - b.tier
		}
		return a.family - b.family
	})
	p := plan{headStart: c.cfg.HeadStart}
	for _, r := range ranks {
		p.order = append(p.order, r.idx)
	}
	if haveLast {
		p.headStart = max(p.headStart, min(3*rtt, maxHeadStart))
		p.rtt, p.rttKnown = rtt, true
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
