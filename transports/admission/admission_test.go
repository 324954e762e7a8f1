package admission

import (
	"net"
	"testing"
	"time"
)

// peer is a conn known only by its address: all a pool looks at.
type peer struct {
	net.Conn
	addr net.Addr
}

func (p peer) RemoteAddr() net.Addr { return p.addr }

func from(ip string) net.Conn {
	return peer{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
}

// admitted is a ticket and whether its evict func ran.
type admitted struct {
	t       *Ticket
	evicted *bool
}

func admit(p *Pool, ip string) admitted {
	var evicted bool
	return admitted{p.Admit(from(ip), func() { evicted = true }), &evicted}
}

func TestANewcomerPushesOutTheRightPeer(t *testing.T) {
	tests := []struct {
		name   string
		before []string // sources admitted in order, filling the pool
		active []int    // which of them sent their first bytes
		arrive string
		want   int // which one is evicted
	}{
		{"the oldest idle peer", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, nil, "127.0.0.4", 0},
		{"an idle peer before an older active one", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, []int{0}, "127.0.0.4", 1},
		{"the oldest active peer when none is idle", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, []int{0, 1, 2}, "127.0.0.4", 0},
		{"a peer of the source holding the most", []string{"127.0.0.1", "127.0.0.9", "127.0.0.9"}, nil, "127.0.0.4", 1},
		{"the flooder's own when the flooder arrives", []string{"127.0.0.1", "127.0.0.9", "127.0.0.9"}, nil, "127.0.0.9", 1},
		{"one of an IPv6 /64 holding the most", []string{"2001:db8::1", "2001:db8:0:1::1", "2001:db8:0:1::2"}, nil, "2001:db8::7", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(Config{Slots: len(tt.before), Sources: NewSources(0)})
			var got []admitted
			for _, ip := range tt.before {
				got = append(got, admit(p, ip))
			}
			for _, i := range tt.active {
				got[i].t.Active()
			}
			newcomer := admit(p, tt.arrive)
			for i, a := range got {
				if *a.evicted != (i == tt.want) {
					t.Errorf("peer %d (%s): evicted %v, want %v", i, tt.before[i], *a.evicted, i == tt.want)
				}
				if a.t.Release() != (i == tt.want) {
					t.Errorf("peer %d: Release reports evicted %v, want %v", i, !(i == tt.want), i == tt.want)
				}
			}
			if *newcomer.evicted || newcomer.t.Release() {
				t.Error("the newcomer was evicted")
			}
			if n := p.Len(); n != 0 {
				t.Errorf("after every release the pool holds %d", n)
			}
		})
	}
}

func TestAReleasedPlaceIsFreeAgain(t *testing.T) {
	p := NewPool(Config{Slots: 2})
	a, b := admit(p, "127.0.0.1"), admit(p, "127.0.0.2")
	if a.t.Release() {
		t.Fatal("a peer released before the pool filled was evicted")
	}
	c := admit(p, "127.0.0.3")
	if *b.evicted || *c.evicted {
		t.Fatal("admitting into a freed place evicted someone")
	}
	if p.Len() != 2 {
		t.Fatalf("pool holds %d, want 2", p.Len())
	}
}

func TestDropsAreCountedByReason(t *testing.T) {
	var reasons []string
	held := NewHeld(1)
	p := NewPool(Config{Slots: 1, Held: held, OnDrop: func(r string) { reasons = append(reasons, r) }})
	admit(p, "127.0.0.1")
	admit(p, "127.0.0.2")
	var dropped bool
	p.Hold(func() { dropped = true })
	p.Hold(func() {})
	if !dropped {
		t.Error("the oldest hold was not dropped when the cap was passed")
	}
	if len(reasons) != 2 || reasons[0] != ReasonEvicted || reasons[1] != ReasonHeldFull {
		t.Errorf("drops counted as %v, want [%s %s]", reasons, ReasonEvicted, ReasonHeldFull)
	}
}

func TestHeldDropsTheOldestAndReleasesFreeRoom(t *testing.T) {
	h := NewHeld(2)
	p := NewPool(Config{Held: h})
	var dropped [4]bool
	release := make([]func(), 4)
	for i := range 2 {
		release[i], _ = p.Hold(func() { dropped[i] = true })
	}
	release[0]()
	release[2], _ = p.Hold(func() { dropped[2] = true }) // fits: 0 left
	if dropped != [4]bool{} {
		t.Fatalf("dropped %v with room to spare", dropped)
	}
	release[3], _ = p.Hold(func() { dropped[3] = true })
	if dropped != [4]bool{false, true, false, false} {
		t.Fatalf("dropped %v, want only the oldest still held (1)", dropped)
	}
	release[1]() // after its drop: harmless
	if h.Len() != 2 {
		t.Fatalf("holding %d, want 2", h.Len())
	}
	h.Close()
	if !dropped[2] || !dropped[3] || h.Len() != 0 {
		t.Fatalf("Close left %d held, dropped %v", h.Len(), dropped)
	}
	if _, ok := p.Hold(func() {}); ok {
		t.Fatal("a closed Held took a new hold")
	}
}

func TestCloseTimesAreDrawnPerConnection(t *testing.T) {
	const hold = 3 * time.Second
	p := NewPool(Config{Hold: hold})
	accepted := time.Now()
	seen := map[time.Time]bool{}
	for range 100 {
		at := p.CloseAt(accepted)
		if d := at.Sub(accepted); d < hold || d >= 2*hold {
			t.Fatalf("close %v after accept, want within [%v, %v)", d, hold, 2*hold)
		}
		seen[at] = true
	}
	if len(seen) < 90 {
		t.Fatalf("100 draws gave %d distinct close times", len(seen))
	}
	var nilPool *Pool
	if d := nilPool.CloseAt(accepted).Sub(accepted); d < DefaultHold || d >= 2*DefaultHold {
		t.Fatalf("without a pool: close %v after accept, want the default hold's range", d)
	}
}

func TestSourcesGroupWithoutKeepingAddresses(t *testing.T) {
	s := NewSources(time.Hour)
	a, b := from("127.0.0.5").RemoteAddr(), from("127.0.0.6").RemoteAddr()
	if s.Bucket(a) != s.Bucket(from("127.0.0.5").RemoteAddr()) {
		t.Error("one address fell in two groups")
	}
	if s.Bucket(a) == s.Bucket(b) {
		t.Error("two addresses share a group (a collision of 64-bit hashes is not expected here)")
	}
	if NewSources(time.Hour).Bucket(a) == s.Bucket(a) {
		t.Error("two keys gave one address the same group: the group does not depend on the key")
	}
	s.rotated = time.Now().Add(-2 * time.Hour)
	before := s.Bucket(a) // rotates
	if s.Bucket(a) != before || before == NewSources(0).Bucket(a) {
		t.Error("a rotated key is not stable until the next rotation")
	}
}

func TestNilPoolBoundsNothing(t *testing.T) {
	var p *Pool
	tk := p.Admit(from("127.0.0.1"), func() { t.Error("a nil pool evicted") })
	tk.Active()
	if tk.Release() {
		t.Error("a nil pool's ticket reports an eviction")
	}
	release, ok := p.Hold(func() { t.Error("a nil pool dropped a hold") })
	if !ok {
		t.Error("a nil pool refused a hold")
	}
	release()
}

func TestAWatchedConnTurnsActiveOnItsFirstBytes(t *testing.T) {
	p := NewPool(Config{Slots: 2})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var evictedWatched, evictedOther bool
	watched := p.Admit(peer{Conn: a, addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}, func() { evictedWatched = true })
	firsts := 0
	c := watched.Watch(a, func() { firsts++ })
	go b.Write([]byte("hello"))
	buf := make([]byte, 2)
	for range 2 {
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if !c.Spoke() || firsts != 1 {
		t.Fatalf("after two reads: Spoke %v, first called %d times; want true, once", c.Spoke(), firsts)
	}
	admit(p, "127.0.0.2").t.evict = func() { evictedOther = true }
	admit(p, "127.0.0.3")
	if evictedWatched || !evictedOther {
		t.Fatal("the newcomer evicted the peer that spoke rather than the idle one")
	}
}
