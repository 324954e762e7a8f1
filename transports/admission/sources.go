package admission

import (
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"time"
)

// DefaultRotation is how long one key groups sources: after it, a new random key
// makes the groups of the hour before unlinkable to addresses, even for someone who
// reads the gateway's memory.
const DefaultRotation = time.Hour

// Sources groups peers by source address for fairness without keeping an address: a
// group is a hash of the address under a random key that lives in memory only and is
// replaced every rotation period. IPv6 addresses are grouped by their /64, which one
// host or home network usually holds whole. The nil *Sources puts every peer in one
// group.
type Sources struct {
	every time.Duration

	mu      sync.Mutex
	seed    maphash.Seed
	rotated time.Time
}

// NewSources returns a grouping whose key changes every period; 0 means
// DefaultRotation.
func NewSources(every time.Duration) *Sources {
	if every <= 0 {
		every = DefaultRotation
	}
	return &Sources{every: every, seed: maphash.MakeSeed(), rotated: time.Now()}
}

// Bucket is addr's group under the current key. Addresses that are not IP (or none)
// share one group.
func (s *Sources) Bucket(addr net.Addr) uint64 {
	if s == nil {
		return 0
	}
	ip := sourceIP(addr)
	if !ip.IsValid() {
		return 0
	}
	s.mu.Lock()
	if time.Since(s.rotated) >= s.every {
		s.seed, s.rotated = maphash.MakeSeed(), time.Now()
	}
	seed := s.seed
	s.mu.Unlock()
	return maphash.Comparable(seed, ip)
}

// sourceIP is addr's IP, an IPv6 one cut to its /64.
func sourceIP(addr net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		return netip.Addr{}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip
}
