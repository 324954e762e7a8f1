package client

import (
	"time"

	"github.com/umbrella-edge/edge/client/failure"
)

// What a family's failures count for: a censor pattern seen twice within
// patternWindow demotes the family on that network for familyDemoteFirst, doubling
// with each further demotion up to demoteMax. Ten minutes spans the rounds and moves
// of one blocking episode; five minutes outlasts a round's backoff many times over,
// yet lets the family be tried again soon if the censor relents.
const (
	patternWindow     = 10 * time.Minute
	familyDemoteFirst = 5 * time.Minute
	maxPatterns       = 4
)

// familyRecord is what a family of transports met on a network: the censor patterns
// of its recent failures, and its demotion once one came twice.
type familyRecord struct {
	Patterns  []pattern `json:"patterns,omitempty"`
	Demotions int       `json:"demotions,omitempty"`
	Until     time.Time `json:"until,omitzero"` // tried after other families until then
}

// pattern is one failure's censor pattern.
type pattern struct {
	Cause string    `json:"cause"`
	Bytes int64     `json:"bytes,omitempty"`
	At    time.Time `json:"at"`
}

func (r *familyRecord) expired(now time.Time) bool {
	last := r.Until
	for _, p := range r.Patterns {
		last = later(last, p.At)
	}
	return now.Sub(last) > memoryTTL
}

// lastWorked returns the bridge that last carried data on network, unless that was
// longer ago than memoryTTL, with the round-trip time it measured.
func (m *memory) lastWorked(network string, now time.Time) (bridge string, rtt time.Duration, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.data.Networks[m.hashName("network", network)]
	if n == nil || n.Worked == nil || now.Sub(n.Worked.At) > memoryTTL {
		return "", 0, false
	}
	return n.Worked.Bridge, time.Duration(n.Worked.RTTms) * time.Millisecond, true
}

// demoted returns until when bridge is tried last on network; zero when it is not.
func (m *memory) demoted(network, bridge string, now time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.data.Networks[m.hashName("network", network)]
	if n == nil || n.Demoted[bridge] == nil {
		return time.Time{}
	}
	if d := n.Demoted[bridge]; now.Before(d.Until) {
		return d.Until
	}
	return time.Time{}
}

// familyDemoted returns until when family's bridges go after the others on network;
// zero when they do not.
func (m *memory) familyDemoted(network string, f family, now time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.data.Networks[m.hashName("network", network)]
	if n == nil || n.Families[string(f)] == nil {
		return time.Time{}
	}
	if r := n.Families[string(f)]; now.Before(r.Until) {
		return r.Until
	}
	return time.Time{}
}

// familyStruck reports whether family met a censor pattern on network within
// patternWindow: once is no demotion, but a family not yet struck is likelier to pass.
func (m *memory) familyStruck(network string, f family, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.data.Networks[m.hashName("network", network)]
	if n == nil || n.Families[string(f)] == nil {
		return false
	}
	for _, p := range n.Families[string(f)].Patterns {
		if now.Sub(p.At) <= patternWindow {
			return true
		}
	}
	return false
}

// worked records that bridge, of family f, carried real data on network. It clears
// the bridge's demotion and the family's: only user traffic proves a bridge, never a
// probe.
func (m *memory) worked(network, bridge string, f family, rtt time.Duration, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.network(network, now)
	n.Worked = &worked{Bridge: bridge, At: now, RTTms: rtt.Milliseconds()}
	delete(n.Demoted, bridge)
	delete(n.Families, string(f))
	return m.saveLocked(now)
}

// failed records that bridge failed user traffic on network and demotes it for twice as
// long as the last time. It returns until when.
func (m *memory) failed(network, bridge string, now time.Time) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.network(network, now)
	if n.Worked != nil && n.Worked.Bridge == bridge {
		n.Worked = nil
	}
	if n.Demoted == nil {
		n.Demoted = map[string]*demotion{}
	}
	d := n.Demoted[bridge]
	if d == nil {
		d = &demotion{}
		n.Demoted[bridge] = d
	}
	d.Failures++
	d.At, d.Until = now, now.Add(doubled(demoteFirst, d.Failures))
	return d.Until, m.saveLocked(now)
}

// familyFailed records the censor pattern e that family f met on network. The second
// time one pattern comes within patternWindow, the family is demoted, for twice as long
// as the last time; familyFailed returns until when, or zero. Causes that do not point
// at a censor (Cause.Censor) are no pattern and are not recorded.
func (m *memory) familyFailed(network string, f family, e *failure.Error, now time.Time) (time.Time, error) {
	if !e.Cause.Censor() {
		return time.Time{}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.network(network, now)
	if n.Families == nil {
		n.Families = map[string]*familyRecord{}
	}
	r := n.Families[string(f)]
	if r == nil {
		r = &familyRecord{}
		n.Families[string(f)] = r
	}
	seen := false
	kept := r.Patterns[:0]
	for _, p := range r.Patterns {
		if now.Sub(p.At) > patternWindow {
			continue
		}
		kept = append(kept, p)
		cause, ok := failure.ParseCause(p.Cause)
		seen = seen || (ok && e.Same(&failure.Error{Cause: cause, Bytes: p.Bytes}))
	}
	r.Patterns = kept
	if !seen {
		if len(r.Patterns) == maxPatterns {
			r.Patterns = r.Patterns[1:]
		}
		r.Patterns = append(r.Patterns, pattern{Cause: e.Cause.String(), Bytes: e.Bytes, At: now})
		return time.Time{}, m.saveLocked(now)
	}
	r.Demotions++
	r.Patterns, r.Until = nil, now.Add(doubled(familyDemoteFirst, r.Demotions))
	return r.Until, m.saveLocked(now)
}

// doubled is first doubled for each of n-1 earlier times, at most demoteMax.
func doubled(first time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < demoteMax; i++ {
		d *= 2
	}
	return min(d, demoteMax)
}
